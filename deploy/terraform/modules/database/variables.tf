variable "name" {
  type        = string
  description = "Identifier prefix for the primary (region A) and the replica (region B)."
}

variable "engine_version" {
  type        = string
  default     = "17"
  description = "PostgreSQL major (or major.minor) version."
}

variable "parameter_group_family" {
  type        = string
  default     = "postgres17"
  description = "Must match engine_version's major version."
}

variable "instance_class" {
  type        = string
  default     = "db.t4g.medium"
  description = "max_connections ≈ memory / 9.5 MB: budget the ASG's max size × pool size below it."
}

variable "replica_instance_class" {
  type        = string
  default     = null
  description = "Region B replica class; null uses instance_class (it becomes the writer after a failover)."
}

variable "allocated_storage" {
  type        = number
  default     = 20
  description = "Initial storage in GiB."
}

variable "max_allocated_storage" {
  type        = number
  default     = 200
  description = "Storage autoscaling ceiling in GiB."
}

variable "backup_retention_period" {
  type        = number
  default     = 14
  description = "Days of automated backups (point-in-time recovery); also required for the replica."
}

variable "multi_az" {
  type        = bool
  default     = true
  description = "A standby in another AZ of region A."
}

variable "database_name" {
  type        = string
  default     = "switchboard"
  description = "The database the service uses."
}

variable "master_username" {
  type        = string
  default     = "switchboard_admin"
  description = "The administrative user; its password is managed in Secrets Manager by RDS."
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets in region A."
}

variable "security_group_id" {
  type        = string
  description = "The database security group in region A."
}

variable "dr_subnet_ids" {
  type        = list(string)
  description = "Private subnets in region B for the replica."
}

variable "dr_security_group_id" {
  type        = string
  description = "The database security group in region B."
}

variable "tags" {
  type        = map(string)
  default     = {}
  description = "Tags for every resource."
}
