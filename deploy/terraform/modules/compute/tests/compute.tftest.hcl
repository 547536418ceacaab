# The launch template and Auto Scaling group, planned against a mocked
# provider.

mock_provider "aws" {
  source = "../../mocks/eu-central-1"
}

variables {
  name                    = "switchboard-test"
  ami_id                  = "ami-0123456789abcdef0"
  subnet_ids              = ["subnet-0a", "subnet-0b"]
  security_group_id       = "sg-0123456789abcdef0"
  instance_profile_name   = "switchboard-test"
  target_group_arn        = "arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/switchboard/0123456789abcdef"
  alb_arn_suffix          = "app/switchboard/0123456789abcdef"
  target_group_arn_suffix = "targetgroup/switchboard/0123456789abcdef"
  config_ssm_path         = "/switchboard/test"
}

run "group" {
  command = apply

  assert {
    condition     = one(aws_launch_template.app.metadata_options).http_tokens == "required" && one(aws_launch_template.app.metadata_options).http_put_response_hop_limit == 1
    error_message = "IMDSv2 only, hop limit 1."
  }
  assert {
    condition     = alltrue([for n in aws_launch_template.app.network_interfaces : n.associate_public_ip_address == "false"])
    error_message = "No public IP."
  }
  assert {
    condition     = alltrue([for b in aws_launch_template.app.block_device_mappings : one(b.ebs).encrypted == "true"])
    error_message = "Encrypted volumes."
  }
  assert {
    condition     = strcontains(base64decode(aws_launch_template.app.user_data), "AWS_REGION=eu-central-1") && strcontains(base64decode(aws_launch_template.app.user_data), "CONFIG_SSM_PATH=/switchboard/test")
    error_message = "user-data points the service at its region and SSM path."
  }
  # EC2 status checks replace instances; /readyz (the ALB) only routes. A
  # database failover must not make the group replace the fleet.
  assert {
    condition     = aws_autoscaling_group.app.health_check_type == "EC2" && aws_autoscaling_group.app.health_check_grace_period > 0
    error_message = "health_check_type must be EC2, with a grace period."
  }
  # Launch before terminate: with 2 instances, 90/100 % rounds to
  # terminating one before its replacement is ready.
  assert {
    condition = (
      one(one(aws_autoscaling_group.app.instance_refresh).preferences).min_healthy_percentage == 100 &&
      one(one(aws_autoscaling_group.app.instance_refresh).preferences).max_healthy_percentage == 200
    )
    error_message = "Instance refresh launches before it terminates (min healthy 100 %, max 200 %)."
  }
  # Rolling back is reverting the AMI and applying; the refresh's own
  # rollback cannot return to the previous AMI.
  assert {
    condition     = one(one(aws_autoscaling_group.app.instance_refresh).preferences).auto_rollback != true
    error_message = "auto_rollback must stay off (docs/runbooks/deploy-and-rollback.md)."
  }
  assert {
    condition     = toset([for p in [aws_autoscaling_policy.requests, aws_autoscaling_policy.cpu] : one(one(p.target_tracking_configuration).predefined_metric_specification).predefined_metric_type]) == toset(["ALBRequestCountPerTarget", "ASGAverageCPUUtilization"])
    error_message = "Target tracking on requests per target and on CPU."
  }
  assert {
    condition     = aws_cloudwatch_log_group.app.kms_key_id == aws_kms_key.logs.arn && aws_kms_key.logs.enable_key_rotation
    error_message = "The service's log group is encrypted with a rotating key."
  }
}

run "refresh_alarms" {
  command = plan

  variables {
    refresh_alarm_names = ["switchboard-test-unhealthy-hosts", "switchboard-test-target-5xx"]
  }

  assert {
    condition     = one(one(one(aws_autoscaling_group.app.instance_refresh).preferences).alarm_specification).alarms == tolist(var.refresh_alarm_names)
    error_message = "A refresh fails when the given alarms fire: EC2 health checks cannot see a version that never turns ready."
  }
}

run "standby" {
  command = plan

  variables {
    min_size = 0
    max_size = 0
  }

  assert {
    condition     = aws_autoscaling_group.app.min_size == 0 && aws_autoscaling_group.app.max_size == 0
    error_message = "A standby region's group can exist at capacity 0."
  }
}
