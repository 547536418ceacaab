# The load balancer, planned against a mocked provider.

mock_provider "aws" {
  source = "../../mocks/eu-west-1"
}

variables {
  name              = "switchboard-test"
  vpc_id            = "vpc-0123456789abcdef0"
  subnet_ids        = ["subnet-0a", "subnet-0b"]
  security_group_id = "sg-0123456789abcdef0"
  certificate_arn   = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
}

run "defaults" {
  command = apply

  assert {
    condition     = aws_lb.this.drop_invalid_header_fields && aws_lb.this.desync_mitigation_mode == "strictest"
    error_message = "Invalid header fields are dropped and desync mitigation is strictest."
  }
  assert {
    condition     = aws_lb.this.enable_deletion_protection
    error_message = "Deletion protection is on."
  }
  assert {
    condition     = one(aws_lb.this.access_logs).enabled && one(aws_lb.this.access_logs).bucket == aws_s3_bucket.access_logs[0].bucket
    error_message = "Access logs are on by default, in a bucket of their own."
  }
  assert {
    condition = (
      aws_s3_bucket_public_access_block.access_logs[0].block_public_acls &&
      aws_s3_bucket_public_access_block.access_logs[0].block_public_policy &&
      aws_s3_bucket_public_access_block.access_logs[0].ignore_public_acls &&
      aws_s3_bucket_public_access_block.access_logs[0].restrict_public_buckets
    )
    error_message = "The log bucket is private."
  }
  assert {
    condition     = one(one(aws_s3_bucket_lifecycle_configuration.access_logs[0].rule).expiration).days == var.access_logs_retention_days
    error_message = "Access logs expire."
  }
  assert {
    condition     = aws_lb_listener.https.protocol == "HTTPS" && aws_lb_listener.https.ssl_policy == "ELBSecurityPolicy-TLS13-1-2-2021-06" && aws_lb_listener.https.certificate_arn == var.certificate_arn
    error_message = "HTTPS with TLS 1.2/1.3 only and the given certificate."
  }
  assert {
    condition = (
      one(aws_lb_listener.http_redirect.default_action).type == "redirect" &&
      one(one(aws_lb_listener.http_redirect.default_action).redirect).protocol == "HTTPS" &&
      one(one(aws_lb_listener.http_redirect.default_action).redirect).status_code == "HTTP_301"
    )
    error_message = "Plain HTTP only redirects to HTTPS."
  }
  # The numbers deploy/terraform/invariants_test.go holds against
  # runtime/config.go; here they are read from the plan.
  assert {
    condition = (
      one(aws_lb_target_group.app.health_check).path == "/readyz" &&
      one(aws_lb_target_group.app.health_check).interval == 5 &&
      one(aws_lb_target_group.app.health_check).unhealthy_threshold == 2 &&
      one(aws_lb_target_group.app.health_check).matcher == "200"
    )
    error_message = "The ALB routes by /readyz, checked every 5 s, out after 2 failures."
  }
  assert {
    condition     = aws_lb_target_group.app.deregistration_delay == "30" && aws_lb.this.idle_timeout == 60
    error_message = "Deregistration delay 30 s, idle timeout 60 s."
  }
}

run "existing_log_bucket" {
  command = plan

  variables {
    access_logs_bucket = "company-alb-logs"
  }

  assert {
    condition     = length(aws_s3_bucket.access_logs) == 0 && one(aws_lb.this.access_logs).bucket == "company-alb-logs"
    error_message = "An existing log bucket is used as given."
  }
}

run "logs_off" {
  command = plan

  variables {
    access_logs_enabled = false
  }

  assert {
    condition     = length(aws_s3_bucket.access_logs) == 0 && length(aws_lb.this.access_logs) == 0
    error_message = "Access logs can be turned off."
  }
}

run "console_not_behind_oidc_by_default" {
  command = plan

  assert {
    condition     = length(aws_lb_listener_rule.console_oidc) == 0
    error_message = "Without console_oidc there is no authentication rule."
  }
}

run "console_oidc" {
  command = apply

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

  assert {
    condition     = one(one(aws_lb_listener_rule.console_oidc[0].condition).path_pattern).values == toset(["/console*"])
    error_message = "The OIDC rule covers the console's paths and nothing else."
  }
  assert {
    condition = (
      [for a in aws_lb_listener_rule.console_oidc[0].action : a.type] == ["authenticate-oidc", "forward"] &&
      one(aws_lb_listener_rule.console_oidc[0].action[0].authenticate_oidc).on_unauthenticated_request == "authenticate" &&
      one(aws_lb_listener_rule.console_oidc[0].action[0].authenticate_oidc).scope == "openid email" &&
      aws_lb_listener_rule.console_oidc[0].action[1].target_group_arn == aws_lb_target_group.app.arn
    )
    error_message = "The console's requests are authenticated, then forwarded to the service."
  }
  assert {
    condition     = one(aws_lb_listener.https.default_action).type == "forward"
    error_message = "Everything else (Twilio, the API, health checks) is forwarded without authentication."
  }
  assert {
    condition     = output.arn == aws_lb.this.arn
    error_message = "The module gives the ARN the console trusts as signer."
  }
}

run "console_oidc_needs_its_secret" {
  command = plan

  variables {
    console_oidc = {
      issuer                 = "https://idp.example.com"
      authorization_endpoint = "https://idp.example.com/authorize"
      token_endpoint         = "https://idp.example.com/token"
      user_info_endpoint     = "https://idp.example.com/userinfo"
      client_id              = "switchboard-console"
    }
  }

  expect_failures = [aws_lb_listener_rule.console_oidc]
}
