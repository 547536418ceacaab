# Region B: the cross-region read replica kept for disaster recovery. A KMS
# key, subnet group and parameter group are regional, so the replica gets
# its own; parameter groups in particular do not carry across regions, and
# without this one the replica would not force TLS once promoted.

locals {
  replica_instance_class = coalesce(var.replica_instance_class, var.instance_class)
}

resource "aws_kms_key" "replica" {
  provider                = aws.dr
  description             = "${var.name} database replica (region B)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  tags                    = var.tags
}

resource "aws_kms_alias" "replica" {
  provider      = aws.dr
  name          = "alias/${var.name}-db-replica"
  target_key_id = aws_kms_key.replica.key_id
}

resource "aws_db_subnet_group" "replica" {
  provider   = aws.dr
  name       = "${var.name}-replica"
  subnet_ids = var.dr_subnet_ids
  tags       = var.tags
}

resource "aws_db_parameter_group" "replica" {
  provider    = aws.dr
  name_prefix = "${var.name}-replica-"
  family      = var.parameter_group_family
  description = "switchboard replica: TLS required"
  tags        = var.tags

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_db_instance" "replica" {
  provider            = aws.dr
  identifier          = "${var.name}-replica"
  replicate_source_db = aws_db_instance.primary.arn
  instance_class      = local.replica_instance_class
  port                = 5432

  max_allocated_storage = var.max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.replica.arn

  db_subnet_group_name   = aws_db_subnet_group.replica.name
  vpc_security_group_ids = [var.dr_security_group_id]
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.replica.name

  iam_database_authentication_enabled = true

  # Backups on the replica make it ready to be a primary the moment it is
  # promoted, and let a new replica be built from it.
  backup_retention_period = var.backup_retention_period
  copy_tags_to_snapshot   = true

  deletion_protection       = true
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.name}-replica-final"

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.replica.arn
  performance_insights_retention_period = 7

  enabled_cloudwatch_logs_exports = ["postgresql"]
  auto_minor_version_upgrade      = true

  tags = var.tags
}
