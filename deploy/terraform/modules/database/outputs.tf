output "primary_identifier" {
  value       = aws_db_instance.primary.identifier
  description = "The DBInstanceIdentifier dimension for alarms."
}

output "primary_address" {
  value       = aws_db_instance.primary.address
  description = "The host name in DATABASE_URL (sslmode=verify-full needs the RDS name)."
}

output "primary_resource_id" {
  value       = aws_db_instance.primary.resource_id
  description = "The DbiResourceId in the rds-db:connect ARN."
}

output "primary_master_user_secret_arn" {
  value       = aws_db_instance.primary.master_user_secret[0].secret_arn
  description = "The admin password RDS keeps in Secrets Manager (for creating the app user)."
}

output "replica_identifier" {
  value       = aws_db_instance.replica.identifier
  description = "For the replica-lag alarm and for promotion."
}

output "replica_address" {
  value       = aws_db_instance.replica.address
  description = "The host name in region B's DATABASE_URL after promotion."
}

output "replica_resource_id" {
  value       = aws_db_instance.replica.resource_id
  description = "The DbiResourceId in region B's rds-db:connect ARN."
}
