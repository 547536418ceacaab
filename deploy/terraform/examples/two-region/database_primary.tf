# Region A's writer. When region B's replica has been promoted and region A's
# writer is given up for good (docs/runbooks/disaster-recovery.md, step 7),
# this file is replaced by after-promotion/database_primary.tf: a removed
# block forgets this writer (it is neither destroyed nor written again) and
# a new replica of region B's writer is made in region A.

module "database_primary" {
  source    = "../../modules/database"
  providers = { aws = aws.primary }

  name              = var.name
  subnet_ids        = module.network_primary.private_subnet_ids
  security_group_id = module.network_primary.database_security_group_id
}

locals {
  # The source of region B's replica; the database in region A the service
  # may use there; the replica in region A to watch (none until region A's
  # writer is given up).
  region_a_writer_arn = module.database_primary.arn
  region_a_database   = module.database_primary
  region_a_replica    = null
}

# The writer moved from module.database (which also held the replica) to a
# module of its own; these keep existing deployments' state.
moved {
  from = module.database.aws_db_instance.primary
  to   = module.database_primary.aws_db_instance.this
}

moved {
  from = module.database.aws_kms_key.primary
  to   = module.database_primary.aws_kms_key.this
}

moved {
  from = module.database.aws_kms_alias.primary
  to   = module.database_primary.aws_kms_alias.this
}

moved {
  from = module.database.aws_db_subnet_group.primary
  to   = module.database_primary.aws_db_subnet_group.this
}

moved {
  from = module.database.aws_db_parameter_group.primary
  to   = module.database_primary.aws_db_parameter_group.this
}
