output "primary_dns_name" {
  value       = module.load_balancer_primary.dns_name
  description = "Alias PUBLIC_BASE_URL's host name to this."
}

output "dr_dns_name" {
  value       = var.dr_compute_enabled ? module.load_balancer_dr[0].dns_name : null
  description = "After a failover, alias PUBLIC_BASE_URL's host name to this."
}

output "bucket_name" {
  value       = module.storage.bucket_name
  description = "S3_BUCKET."
}

output "primary_database_address" {
  value       = module.database.primary_address
  description = "The writer's host name."
}

output "replica_database_address" {
  value       = module.database.replica_address
  description = "The region-B replica's host name."
}

output "primary_master_user_secret_arn" {
  value       = module.database.primary_master_user_secret_arn
  description = "The admin password (Secrets Manager), for creating the service's user."
}

output "alarm_topic_arns" {
  value       = [module.alarms_primary.topic_arn, module.alarms_dr.topic_arn]
  description = "Subscribe the on-call address to both."
}
