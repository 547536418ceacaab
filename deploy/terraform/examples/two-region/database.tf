# Region B's database: a cross-region read replica of region A's writer,
# made a writer in place by `aws rds promote-read-replica` during a failover
# and then by dr_promoted = true here (which drops replicate_source_db and
# makes it Multi-AZ, as the runbook does by hand first).

module "database_dr" {
  source    = "../../modules/database"
  providers = { aws = aws.dr }

  name                = "${var.name}-replica"
  replica             = true
  promoted            = var.dr_promoted
  replicate_source_db = local.region_a_writer_arn
  subnet_ids          = module.network_dr.private_subnet_ids
  security_group_id   = module.network_dr.database_security_group_id
}

moved {
  from = module.database.aws_db_instance.replica
  to   = module.database_dr.aws_db_instance.this
}

moved {
  from = module.database.aws_kms_key.replica
  to   = module.database_dr.aws_kms_key.this
}

moved {
  from = module.database.aws_db_subnet_group.replica
  to   = module.database_dr.aws_db_subnet_group.this
}

moved {
  from = module.database.aws_db_parameter_group.replica
  to   = module.database_dr.aws_db_parameter_group.this
}
