# The example after step 7 of docs/runbooks/disaster-recovery.md:
# database_primary.tf replaced by after-promotion/database_primary.tf and
# dr_promoted = true. deploy/verify.sh makes that copy and runs this file in
# it (terraform test -test-directory=after-promotion/tests).

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
  dr_promoted         = true
}

run "after_promotion" {
  command = apply

  assert {
    condition     = output.instance_capacity.dr.min == var.min_size && output.instance_capacity.primary.max == 0
    error_message = "Region B serves; region A's group stays at 0."
  }
  assert {
    condition     = output.primary_database_address != null && strcontains(output.ssm_settings.primary.DATABASE_URL, output.primary_database_address)
    error_message = "Region A has a database again: the new replica of region B's writer, ready for a failover back."
  }
  assert {
    condition     = output.ssm_settings.dr.S3_BUCKET == var.replica_bucket_name && strcontains(output.ssm_settings.dr.DATABASE_URL, output.replica_database_address)
    error_message = "Region B keeps its bucket and its (promoted) database."
  }
}
