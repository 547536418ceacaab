output "autoscaling_group_name" {
  value       = aws_autoscaling_group.app.name
  description = "For instance refreshes and alarms."
}

output "launch_template_id" {
  value       = aws_launch_template.app.id
  description = "The launch template."
}
