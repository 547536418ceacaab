output "dns_name" {
  value       = aws_lb.this.dns_name
  description = "Point PUBLIC_BASE_URL's DNS name here (alias record)."
}

output "zone_id" {
  value       = aws_lb.this.zone_id
  description = "For a Route 53 alias record."
}

output "arn_suffix" {
  value       = aws_lb.this.arn_suffix
  description = "The LoadBalancer dimension of ALB metrics."
}

output "target_group_arn" {
  value       = aws_lb_target_group.app.arn
  description = "For the Auto Scaling group."
}

output "target_group_arn_suffix" {
  value       = aws_lb_target_group.app.arn_suffix
  description = "The TargetGroup dimension of ALB metrics."
}

output "access_logs_bucket" {
  value       = var.access_logs_enabled ? local.access_logs_bucket : null
  description = "Where the ALB writes its access logs (under <name>/AWSLogs/)."
}

output "arn" {
  value       = aws_lb.this.arn
  description = "The load balancer's ARN: CONSOLE_OIDC_ALB_ARN, the signer the console trusts."
}
