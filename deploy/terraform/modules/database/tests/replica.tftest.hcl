# One database instance created as a cross-region replica, then promoted in
# place, against a mocked provider.

mock_provider "aws" {
  source = "../../mocks/eu-central-1"
}

variables {
  name              = "switchboard-test"
  subnet_ids        = ["subnet-0a", "subnet-0b"]
  security_group_id = "sg-0123456789abcdef0"
}

run "replica" {
  command = apply

  variables {
    replica             = true
    replicate_source_db = "arn:aws:rds:eu-west-1:123456789012:db:switchboard-test"
  }

  assert {
    condition     = aws_db_instance.this.replicate_source_db == var.replicate_source_db
    error_message = "A replica names its source."
  }
  assert {
    condition     = aws_db_instance.this.skip_final_snapshot && aws_db_instance.this.final_snapshot_identifier == null
    error_message = "RDS takes no final snapshot of a replica: asking for one blocks destroy."
  }
  assert {
    condition     = !aws_db_instance.this.multi_az
    error_message = "An unpromoted replica has no standby."
  }
  assert {
    condition     = aws_db_instance.this.kms_key_id == aws_kms_key.this.arn && aws_db_instance.this.backup_retention_period >= 7
    error_message = "A cross-region replica uses a key of its own region and keeps backups, ready to be a writer."
  }
}

# The same instance promoted in place: planned on the replica's state.
run "promoted" {
  command = plan

  variables {
    replica             = true
    promoted            = true
    replicate_source_db = null
  }

  assert {
    condition     = aws_db_instance.this.replicate_source_db == null
    error_message = "A promoted replica replicates nothing."
  }
  assert {
    condition     = aws_db_instance.this.multi_az && !aws_db_instance.this.skip_final_snapshot && aws_db_instance.this.final_snapshot_identifier == "switchboard-test-final"
    error_message = "A promoted replica is a writer: Multi-AZ, with a final snapshot."
  }
}

