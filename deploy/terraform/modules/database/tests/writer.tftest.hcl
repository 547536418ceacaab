# One database instance created as a writer, against a mocked provider.

mock_provider "aws" {
  source = "../../mocks/eu-central-1"
}

variables {
  name              = "switchboard-test"
  subnet_ids        = ["subnet-0a", "subnet-0b"]
  security_group_id = "sg-0123456789abcdef0"
}

run "writer" {
  command = apply

  assert {
    condition     = !aws_db_instance.this.publicly_accessible && aws_db_instance.this.storage_encrypted
    error_message = "The database is private and encrypted."
  }
  assert {
    condition     = aws_db_instance.this.kms_key_id == aws_kms_key.this.arn && aws_db_instance.this.performance_insights_kms_key_id == aws_kms_key.this.arn
    error_message = "Storage and Performance Insights use the instance's own customer managed key."
  }
  assert {
    condition     = aws_kms_key.this.enable_key_rotation
    error_message = "The key rotates."
  }
  assert {
    condition     = aws_db_instance.this.deletion_protection && !aws_db_instance.this.skip_final_snapshot && aws_db_instance.this.final_snapshot_identifier == "switchboard-test-final"
    error_message = "A writer is protected from deletion and leaves a final snapshot."
  }
  assert {
    condition     = aws_db_instance.this.iam_database_authentication_enabled && aws_db_instance.this.manage_master_user_password
    error_message = "IAM authentication for the service; the admin password managed by RDS."
  }
  assert {
    condition     = aws_db_instance.this.multi_az && aws_db_instance.this.backup_retention_period >= 7 && aws_db_instance.this.max_allocated_storage > aws_db_instance.this.allocated_storage
    error_message = "A writer is Multi-AZ, backed up for at least 7 days, with storage autoscaling."
  }
  assert {
    condition     = aws_db_instance.this.performance_insights_enabled && aws_db_instance.this.monitoring_interval == 60 && aws_db_instance.this.monitoring_role_arn == aws_iam_role.monitoring.arn
    error_message = "Performance Insights and enhanced monitoring are on."
  }
  assert {
    condition     = aws_iam_role_policy_attachment.monitoring.policy_arn == "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
    error_message = "The monitoring role may publish enhanced monitoring."
  }
  assert {
    condition     = anytrue([for p in aws_db_parameter_group.this.parameter : p.name == "rds.force_ssl" && p.value == "1"]) && aws_db_instance.this.parameter_group_name == aws_db_parameter_group.this.name
    error_message = "The instance's own parameter group forces TLS."
  }
  assert {
    condition     = aws_db_instance.this.replicate_source_db == null && aws_db_instance.this.engine == "postgres"
    error_message = "A writer replicates nothing."
  }
}

run "replica_without_source" {
  command = plan

  variables {
    replica = true
  }

  expect_failures = [var.replicate_source_db]
}

run "short_backups" {
  command = plan

  variables {
    backup_retention_period = 1
  }

  expect_failures = [var.backup_retention_period]
}

run "no_enhanced_monitoring" {
  command = plan

  variables {
    monitoring_interval = 0
  }

  expect_failures = [var.monitoring_interval]
}
