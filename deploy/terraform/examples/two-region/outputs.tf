output "primary_dns_name" {
  value       = module.load_balancer_primary.dns_name
  description = "Alias PUBLIC_BASE_URL's host name to this."
}

output "dr_dns_name" {
  value       = var.dr_compute_enabled ? module.load_balancer_dr[0].dns_name : null
  description = "After a failover, alias PUBLIC_BASE_URL's host name to this."
}

output "primary_autoscaling_group_name" {
  value       = module.compute_primary.autoscaling_group_name
  description = "Region A's group (for the runbooks' CLI steps)."
}

output "dr_autoscaling_group_name" {
  value       = var.dr_compute_enabled ? module.compute_dr[0].autoscaling_group_name : null
  description = "Region B's group, at capacity 0 until a failover scales it."
}

output "bucket_name" {
  value       = module.storage.bucket_name
  description = "S3_BUCKET in region A."
}

output "replica_bucket_name" {
  value       = module.storage_dr.bucket_name
  description = "S3_BUCKET in region B."
}

output "primary_database_address" {
  value       = try(local.region_a_database.address, null)
  description = "Region A's database host name."
}

output "replica_database_address" {
  value       = module.database_dr.address
  description = "Region B's database host name (the replica, the writer once promoted)."
}

output "replica_database_identifier" {
  value       = module.database_dr.identifier
  description = "For aws rds promote-read-replica."
}

output "primary_master_user_secret_arn" {
  value       = try(local.region_a_database.master_user_secret_arn, null)
  description = "The admin password (Secrets Manager), for creating the service's user."
}

output "ssm_settings" {
  value       = { primary = local.settings.primary, dr = local.settings.dr }
  description = "The non-secret settings written under config_ssm_path in each region."
}

output "instance_capacity" {
  value       = local.size
  description = "min and max instances per region: where the service runs."
}

output "alarm_topic_arns" {
  value       = [module.alarms_primary.topic_arn, module.alarms_dr.topic_arn]
  description = "Subscribe the on-call address to both."
}
