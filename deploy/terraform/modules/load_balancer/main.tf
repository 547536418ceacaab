# The timing below is tied to the service's defaults in runtime/config.go
# (deploy/terraform/invariants_test.go checks it):
#   - idle_timeout 60 s stays below the server's 75 s keep-alive, so the ALB,
#     not the server, closes idle connections (no 502 on a reused socket);
#   - when the service stops on its own (a restart, a failed instance) it
#     answers 503 on /readyz first: the ALB stops routing to it at the latest
#     interval × (unhealthy_threshold + 1) = 15 s later, within the 20 s
#     SHUTDOWN_DRAIN_DELAY;
#   - on scale-in and instance refresh the ASG deregisters the instance
#     first: the ALB sends it no new request, the deregistration_delay (30 s)
#     lets requests in flight (at most HTTP_WRITE_TIMEOUT, 20 s) finish, and
#     only then is the instance terminated and the service sent SIGTERM.

# trivy:ignore:AWS-0053 Twilio and callers reach the service from the internet; only 443 (and 80, redirected) are open.
resource "aws_lb" "this" {
  name                       = var.name
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.subnet_ids
  security_groups            = [var.security_group_id]
  idle_timeout               = 60
  drop_invalid_header_fields = true
  desync_mitigation_mode     = "strictest"
  enable_deletion_protection = var.deletion_protection
  tags                       = var.tags

  dynamic "access_logs" {
    for_each = var.access_logs_enabled ? [local.access_logs_bucket] : []
    content {
      bucket  = access_logs.value
      prefix  = var.name
      enabled = true
    }
  }

  # The ALB checks it may write its logs when it is created.
  depends_on = [aws_s3_bucket_policy.access_logs]
}

resource "aws_lb_target_group" "app" {
  name                 = var.name
  vpc_id               = var.vpc_id
  port                 = var.app_port
  protocol             = "HTTP"
  target_type          = "instance"
  deregistration_delay = 30
  tags                 = var.tags

  health_check {
    path                = "/readyz"
    port                = "traffic-port"
    protocol            = "HTTP"
    matcher             = "200"
    interval            = 5
    timeout             = 4
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn
  tags              = var.tags

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.app.arn
  }
}

resource "aws_lb_listener" "http_redirect" {
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"
  tags              = var.tags

  default_action {
    type = "redirect"
    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }
}

# The console behind the company's identity provider: requests for
# /console* are authenticated by the load balancer, which then forwards
# them with the person's identity signed in x-amzn-oidc-data (the service
# verifies it: CONSOLE_AUTH=oidc). Only the console's paths: Twilio and API
# clients cannot sign in through a browser redirect.
resource "aws_lb_listener_rule" "console_oidc" {
  count        = var.console_oidc == null ? 0 : 1
  listener_arn = aws_lb_listener.https.arn
  priority     = 10
  tags         = var.tags

  condition {
    path_pattern {
      values = ["/console*"]
    }
  }

  action {
    type  = "authenticate-oidc"
    order = 1
    authenticate_oidc {
      issuer                     = var.console_oidc.issuer
      authorization_endpoint     = var.console_oidc.authorization_endpoint
      token_endpoint             = var.console_oidc.token_endpoint
      user_info_endpoint         = var.console_oidc.user_info_endpoint
      client_id                  = var.console_oidc.client_id
      client_secret              = var.console_oidc_client_secret
      scope                      = var.console_oidc.scope
      session_timeout            = var.console_oidc.session_timeout
      on_unauthenticated_request = "authenticate"
    }
  }

  action {
    type             = "forward"
    order            = 2
    target_group_arn = aws_lb_target_group.app.arn
  }

  lifecycle {
    precondition {
      condition     = var.console_oidc_client_secret != null
      error_message = "console_oidc needs console_oidc_client_secret."
    }
  }
}
