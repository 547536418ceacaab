output "topic_arn" {
  value       = aws_sns_topic.alarms.arn
  description = "Subscribe the on-call address or pager here."
}
