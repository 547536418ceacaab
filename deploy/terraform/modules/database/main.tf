# One PostgreSQL instance in the provider's region, with its own KMS key,
# subnet group and parameter group (all regional). The two-region example
# uses it twice: the writer in region A, and in region B a cross-region read
# replica of it (replica = true), which becomes a writer in place when it is
# promoted (promoted = true drops replicate_source_db; the instance, its
# endpoint and its key stay).

locals {
  # Still replicating: RDS refuses a final snapshot of a replica, and a
  # replica takes its engine, storage and users from the source.
  replicating = var.replica && !var.promoted
}

resource "aws_kms_key" "this" {
  description             = "${var.name} database"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}-db"
  target_key_id = aws_kms_key.this.key_id
}

resource "aws_db_subnet_group" "this" {
  name       = var.name
  subnet_ids = var.subnet_ids
  tags       = var.tags
}

# Parameter groups do not carry across regions: without its own, a replica
# would not force TLS once promoted.
resource "aws_db_parameter_group" "this" {
  name_prefix = "${var.name}-"
  family      = var.parameter_group_family
  description = "switchboard: TLS required"
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

# Enhanced monitoring: OS metrics every monitoring_interval seconds, which
# CloudWatch's hypervisor view of the instance does not have.
data "aws_iam_policy_document" "monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "monitoring" {
  name               = "${var.name}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.monitoring_assume.json
  tags               = var.tags
}

data "aws_partition" "current" {}

resource "aws_iam_role_policy_attachment" "monitoring" {
  role       = aws_iam_role.monitoring.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_db_instance" "this" {
  identifier          = var.name
  replicate_source_db = local.replicating ? var.replicate_source_db : null
  instance_class      = var.instance_class
  port                = 5432

  # Set only on an instance created as a writer; a replica inherits them and
  # keeps them when promoted.
  engine                        = var.replica ? null : "postgres"
  engine_version                = var.replica ? null : var.engine_version
  db_name                       = var.replica ? null : var.database_name
  username                      = var.replica ? null : var.master_username
  manage_master_user_password   = var.replica ? null : true
  master_user_secret_kms_key_id = var.replica ? null : aws_kms_key.this.arn
  allocated_storage             = var.replica ? null : var.allocated_storage

  max_allocated_storage = var.max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.this.arn

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [var.security_group_id]
  publicly_accessible    = false
  multi_az               = local.replicating ? false : var.multi_az
  parameter_group_name   = aws_db_parameter_group.this.name

  iam_database_authentication_enabled = true

  # Backups on the replica make it ready to be a writer the moment it is
  # promoted, and let a new replica be built from it.
  backup_retention_period  = var.backup_retention_period
  backup_window            = "03:00-04:00"
  maintenance_window       = "sun:04:30-sun:05:30"
  copy_tags_to_snapshot    = true
  delete_automated_backups = false

  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = local.replicating
  final_snapshot_identifier = local.replicating ? null : "${var.name}-final"

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.this.arn
  performance_insights_retention_period = 7

  monitoring_interval = var.monitoring_interval
  monitoring_role_arn = aws_iam_role.monitoring.arn

  enabled_cloudwatch_logs_exports = ["postgresql"]
  auto_minor_version_upgrade      = true
  apply_immediately               = false

  tags = var.tags

  depends_on = [aws_iam_role_policy_attachment.monitoring]
}
