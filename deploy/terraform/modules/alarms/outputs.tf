output "deploy_alarm_names" {
  value       = concat(aws_cloudwatch_metric_alarm.unhealthy_hosts[*].alarm_name, aws_cloudwatch_metric_alarm.target_5xx[*].alarm_name)
  description = "Alarms that show a bad new version: an instance refresh fails when one goes to ALARM."
}

output "topic_arn" {
  value       = aws_sns_topic.alarms.arn
  description = "Subscribe the on-call address or pager here."
}
