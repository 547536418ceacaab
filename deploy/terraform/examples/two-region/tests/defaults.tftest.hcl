# The example with its defaults, applied against a mocked provider: region A
# serves; region B holds the replicas of the database and of the bucket, the
# settings it will need after a failover, and no compute.

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
}

run "defaults" {
  command = apply

  assert {
    condition     = output.instance_capacity.primary.min == 2 && output.instance_capacity.primary.max == 6
    error_message = "Region A runs between min_size and max_size instances."
  }
  assert {
    condition     = output.dr_dns_name == null && output.dr_autoscaling_group_name == null
    error_message = "Region B runs no load balancer or instances by default."
  }

  assert {
    condition     = alltrue([for region, s in output.ssm_settings : !contains(keys(s), "RETENTION_DAYS")])
    error_message = "Calls are kept forever unless retention_days is set."
  }

  # Each region's settings name its own bucket and the bucket's region.
  assert {
    condition = (
      output.ssm_settings.primary.S3_BUCKET == var.bucket_name &&
      output.ssm_settings.primary.S3_REGION == var.primary_region &&
      output.ssm_settings.primary.S3_REPLICA_BUCKET == var.replica_bucket_name &&
      output.ssm_settings.primary.S3_REPLICA_REGION == var.dr_region
    )
    error_message = "Region A's settings must name region A's bucket, its region, and the replica bucket."
  }
  assert {
    condition = (
      output.ssm_settings.dr.S3_BUCKET == var.replica_bucket_name &&
      output.ssm_settings.dr.S3_REGION == var.dr_region &&
      output.ssm_settings.dr.S3_REPLICA_BUCKET == var.bucket_name &&
      output.ssm_settings.dr.S3_REPLICA_REGION == var.primary_region
    )
    error_message = "Region B's settings must name the bucket to use after a failover (the replica, in region B)."
  }
  assert {
    condition = alltrue([for region, s in output.ssm_settings :
      s.S3_KMS_KEY_ID != "" && s.SWITCHBOARD_ENV == "production" && s.DB_IAM_AUTH == "true" &&
      s.DB_CA_FILE == "/etc/switchboard/rds-ca.pem" && s.PUBLIC_BASE_URL == var.public_base_url
    ])
    error_message = "Both regions run in production mode with IAM database authentication, the RDS CA and a KMS key for recordings."
  }

  # The database URL names the region's database by its RDS host name, with
  # verify-full TLS and no password (IAM tokens).
  assert {
    condition = alltrue([for region, s in output.ssm_settings :
      can(regex("^postgres://switchboard@[^:/@]+:5432/switchboard\\?sslmode=verify-full$", s.DATABASE_URL))
    ])
    error_message = "DATABASE_URL must be postgres://switchboard@<rds host>:5432/switchboard?sslmode=verify-full."
  }
  assert {
    condition     = strcontains(output.ssm_settings.dr.DATABASE_URL, output.replica_database_address)
    error_message = "Region B's DATABASE_URL must name region B's replica (the same endpoint once promoted)."
  }

  # Only non-secret settings, as plain strings under the configured path;
  # secrets are SecureStrings put by hand.
  assert {
    condition = alltrue([for p in concat(values(aws_ssm_parameter.primary), values(aws_ssm_parameter.dr)) :
      p.type == "String" && startswith(p.name, "${var.config_ssm_path}/")
    ])
    error_message = "Settings are plain String parameters under config_ssm_path."
  }
  assert {
    condition = length(setintersection(
      concat(keys(aws_ssm_parameter.primary), keys(aws_ssm_parameter.dr)),
      ["TWILIO_AUTH_TOKEN", "TWILIO_NEXT_AUTH_TOKEN", "TWILIO_ACCOUNT_SID", "API_TOKENS", "OPENAI_API_KEY", "CONSOLE_SESSION_KEY"],
    )) == 0
    error_message = "Secrets must never be written by Terraform (they would land in its state)."
  }
  assert {
    condition     = length(output.alarm_topic_arns) == 2
    error_message = "Each region has its alarm topic."
  }
  assert {
    condition = alltrue([for region, s in output.ssm_settings :
      !contains(keys(s), "CONSOLE_AUTH") && !contains(keys(s), "CONSOLE_OIDC_ALB_ARN")
    ])
    error_message = "Without console_oidc the console keeps its own sign-in."
  }
}

# The console behind the company's identity provider: each region's load
# balancer authenticates /console*, and each region's instances trust
# their own load balancer's assertions.
run "console_oidc" {
  command = apply

  variables {
    dr_compute_enabled = true
    dr_ami_id          = "ami-0fedcba9876543210"
    dr_certificate_arn = "arn:aws:acm:eu-central-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
    console_oidc = {
      issuer                 = "https://idp.example.com"
      authorization_endpoint = "https://idp.example.com/authorize"
      token_endpoint         = "https://idp.example.com/token"
      user_info_endpoint     = "https://idp.example.com/userinfo"
      client_id              = "switchboard-console"
      allowed_domains        = ["example.com", "example.org"]
      logout_url             = "https://idp.example.com/logout"
    }
    console_oidc_client_secret = "not-a-real-secret"
  }

  assert {
    condition = alltrue([for region, s in output.ssm_settings :
      s.CONSOLE_AUTH == "oidc" && s.CONSOLE_OIDC_ALLOWED_DOMAINS == "example.com,example.org" &&
      s.CONSOLE_OIDC_LOGOUT_URL == "https://idp.example.com/logout" && !contains(keys(s), "CONSOLE_OIDC_ALLOWED_GROUPS")
    ])
    error_message = "Both regions run the console behind OIDC with the allow-list."
  }
  assert {
    condition = (
      output.ssm_settings.primary.CONSOLE_OIDC_ALB_ARN == module.load_balancer_primary.arn &&
      output.ssm_settings.dr.CONSOLE_OIDC_ALB_ARN == module.load_balancer_dr[0].arn &&
      startswith(output.ssm_settings.dr.CONSOLE_OIDC_ALB_ARN, "arn:aws:elasticloadbalancing:eu-central-1:")
    )
    error_message = "Each region trusts the assertions of its own load balancer."
  }
}

run "console_oidc_needs_an_allow_list" {
  command = plan

  variables {
    console_oidc = {
      issuer                 = "https://idp.example.com"
      authorization_endpoint = "https://idp.example.com/authorize"
      token_endpoint         = "https://idp.example.com/token"
      user_info_endpoint     = "https://idp.example.com/userinfo"
      client_id              = "switchboard-console"
    }
    console_oidc_client_secret = "not-a-real-secret"
  }

  expect_failures = [var.console_oidc]
}

# S3_PREFIX is left out when empty (SSM rejects empty values) and written
# in both regions otherwise.
run "prefix" {
  command = plan

  variables {
    s3_prefix = "prod/"
  }

  assert {
    condition     = aws_ssm_parameter.primary["S3_PREFIX"].value == "prod/" && aws_ssm_parameter.dr["S3_PREFIX"].value == "prod/"
    error_message = "S3_PREFIX must reach both regions."
  }
}

run "no_prefix" {
  command = plan

  assert {
    condition     = !contains(keys(aws_ssm_parameter.primary), "S3_PREFIX") && !contains(keys(aws_ssm_parameter.dr), "S3_PREFIX")
    error_message = "An empty S3_PREFIX must not be written."
  }
}

# With retention_days, both regions' instances delete calls that old (the
# lifecycle backstop on both buckets is in the storage module's tests).
run "retention" {
  command = plan

  variables {
    retention_days = 90
  }

  assert {
    condition     = output.ssm_settings.primary.RETENTION_DAYS == "90" && output.ssm_settings.dr.RETENTION_DAYS == "90"
    error_message = "Both regions' settings hold RETENTION_DAYS, so a failover keeps the window."
  }
}
