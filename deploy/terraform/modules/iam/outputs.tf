output "instance_profile_name" {
  value       = aws_iam_instance_profile.instance.name
  description = "For the launch templates in both regions."
}

output "role_arn" {
  value       = aws_iam_role.instance.arn
  description = "The instance role."
}
