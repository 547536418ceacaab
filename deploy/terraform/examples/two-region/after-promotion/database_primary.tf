# Replaces ../database_primary.tf once region B's replica has been promoted
# (dr_promoted = true) and region A's former writer is given up
# (docs/runbooks/disaster-recovery.md, step 7). Terraform forgets the former
# writer and its key, subnet group and parameter group without deleting
# them: keep them for forensics and delete them by hand. Region A gets a
# cross-region replica of region B's writer, so a failover back is possible.

removed {
  from = module.database_primary

  lifecycle {
    destroy = false
  }
}

module "database_primary_replica" {
  source    = "../../modules/database"
  providers = { aws = aws.primary }

  name                = "${var.name}-a"
  replica             = true
  replicate_source_db = module.database_dr.arn
  subnet_ids          = module.network_primary.private_subnet_ids
  security_group_id   = module.network_primary.database_security_group_id
}

locals {
  region_a_writer_arn = null
  region_a_database   = module.database_primary_replica
  region_a_replica = {
    identifier = module.database_primary_replica.identifier
  }
}
