# dr_compute_enabled keeps region B's load balancer and Auto Scaling group
# in place at capacity 0, so a failover needs no Terraform; it needs the AMI
# and the certificate in region B, checked together with it.

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

  assert {
    condition     = output.dr_dns_name != null && output.dr_autoscaling_group_name == "switchboard-prod"
    error_message = "Region B must have its load balancer and Auto Scaling group before any failover."
  }
  assert {
    condition     = output.instance_capacity.dr.min == 0 && output.instance_capacity.dr.max == 0
    error_message = "Region B's group stays at capacity 0 until a failover: nothing there may write to the replica."
  }
  assert {
    condition     = output.instance_capacity.primary.min == var.min_size && output.instance_capacity.primary.max == var.max_size
    error_message = "Region A serves."
  }
  assert {
    condition     = length(module.alarms_primary.deploy_alarm_names) == 2 && length(module.alarms_dr.deploy_alarm_names) == 2
    error_message = "Instance refreshes in both regions fail on the unhealthy-hosts and 5xx alarms."
  }
}

run "without_ami" {
  command = plan

  variables {
    dr_ami_id = null
  }

  expect_failures = [var.dr_ami_id]
}

run "without_certificate" {
  command = plan

  variables {
    dr_certificate_arn = null
  }

  expect_failures = [var.dr_certificate_arn]
}

# Without region B compute the two may stay unset.
run "neither" {
  command = plan

  variables {
    dr_compute_enabled = false
    dr_ami_id          = null
    dr_certificate_arn = null
  }

  assert {
    condition     = output.instance_capacity.dr.max == 0
    error_message = "No compute in region B."
  }
}
