# A failover as docs/runbooks/disaster-recovery.md performs it: region B is on
# standby (dr_compute_enabled); the runbook promotes the replica and scales
# region B's group with the CLI, then records the promotion here with
# dr_promoted = true. The plan of run "promoted" may change only what
# tests/expected-changes.txt lists (deploy/verify.sh checks it): region B's
# database in place (no replacement), the groups' sizes, the writer alarms.

mock_provider "aws" {
  alias  = "primary"
  source = "../../mocks/eu-west-1"
}

mock_provider "aws" {
  alias  = "dr"
  source = "../../mocks/eu-central-1"
}

variables {
  primary_region      = "eu-west-1"
  dr_region           = "eu-central-1"
  ami_id              = "ami-0123456789abcdef0"
  certificate_arn     = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
  public_base_url     = "https://voice.example.com"
  bucket_name         = "example-switchboard-recordings"
  replica_bucket_name = "example-switchboard-recordings-dr"
  dr_compute_enabled  = true
  dr_ami_id           = "ami-0fedcba9876543210"
  dr_certificate_arn  = "arn:aws:acm:eu-central-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
}

run "standby" {
  command = apply
}

run "promoted" {
  command = plan

  variables {
    dr_promoted = true
  }

  assert {
    condition     = output.instance_capacity.dr.min == var.min_size && output.instance_capacity.dr.max == var.max_size
    error_message = "After a promotion region B serves: the capacity the runbook's CLI step set."
  }
  assert {
    condition     = output.instance_capacity.primary.min == 0 && output.instance_capacity.primary.max == 0
    error_message = "After a promotion region A's group stays at 0, so nothing writes to the former writer."
  }
  assert {
    condition     = output.ssm_settings.dr == run.standby.ssm_settings.dr
    error_message = "Region B's settings must already be right before the failover: the promotion changes none."
  }
  assert {
    condition     = output.replica_database_address == run.standby.replica_database_address && output.dr_dns_name == run.standby.dr_dns_name
    error_message = "Region B's database endpoint and load balancer stay the same."
  }
}

# Applying the promotion, then planning again, changes nothing: the example
# converges on the promoted state.
run "promoted_applied" {
  command = apply

  variables {
    dr_promoted = true
  }
}

run "promoted_again" {
  command = plan

  variables {
    dr_promoted = true
  }
}
