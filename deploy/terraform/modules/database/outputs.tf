output "arn" {
  value       = aws_db_instance.this.arn
  description = "The replicate_source_db of a cross-region replica of this instance."
}

output "identifier" {
  value       = aws_db_instance.this.identifier
  description = "The DBInstanceIdentifier dimension for alarms, and for the runbooks' CLI steps."
}

output "address" {
  value       = aws_db_instance.this.address
  description = "The host name in DATABASE_URL (sslmode=verify-full needs the RDS name); it survives a promotion."
}

output "resource_id" {
  value       = aws_db_instance.this.resource_id
  description = "The DbiResourceId in the rds-db:connect ARN."
}

output "master_user_secret_arn" {
  value       = one(aws_db_instance.this.master_user_secret[*].secret_arn)
  description = "The admin password RDS keeps in Secrets Manager (for creating the service's user); null on a replica."
}

output "kms_key_arn" {
  value       = aws_kms_key.this.arn
  description = "The key of the storage, snapshots and Performance Insights."
}
