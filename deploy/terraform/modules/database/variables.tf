variable "name" {
  type        = string
  description = "The instance identifier; also names its key alias, subnet group and parameter group."
}

variable "replica" {
  type        = bool
  default     = false
  description = "Created as a cross-region read replica of replicate_source_db (in this module's region)."
}

variable "replicate_source_db" {
  type        = string
  default     = null
  description = "ARN of the source instance; required while replica is true and promoted false."
  validation {
    condition     = !var.replica || var.promoted || var.replicate_source_db != null
    error_message = "A replica that is not promoted needs replicate_source_db."
  }
}

variable "promoted" {
  type        = bool
  default     = false
  description = "The replica has been promoted (aws rds promote-read-replica): it is a writer, in place."
}

variable "engine_version" {
  type        = string
  default     = "17"
  description = "PostgreSQL major (or major.minor) version of a writer; a replica follows its source."
}

variable "parameter_group_family" {
  type        = string
  default     = "postgres17"
  description = "Must match engine_version's major version."
}

variable "instance_class" {
  type        = string
  default     = "db.t4g.medium"
  description = "max_connections ≈ memory / 9.5 MB: budget the ASG's max size × pool size below it. A replica should match its source: it becomes the writer."
}

variable "allocated_storage" {
  type        = number
  default     = 20
  description = "Initial storage in GiB of a writer."
}

variable "max_allocated_storage" {
  type        = number
  default     = 200
  description = "Storage autoscaling ceiling in GiB."
}

variable "backup_retention_period" {
  type        = number
  default     = 14
  description = "Days of automated backups (point-in-time recovery); a source needs them for its replicas."
  validation {
    condition     = var.backup_retention_period >= 7
    error_message = "Keep at least 7 days of backups."
  }
}

variable "multi_az" {
  type        = bool
  default     = true
  description = "A standby in another AZ for a writer (a promoted replica included); an unpromoted replica has none."
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
  description = "Private subnets in this region."
}

variable "security_group_id" {
  type        = string
  description = "The database security group in this region."
}

variable "deletion_protection" {
  type        = bool
  default     = true
  description = "Refuse deletion; set false and apply before a deliberate destroy."
}

variable "monitoring_interval" {
  type        = number
  default     = 60
  description = "Enhanced monitoring interval in seconds (1, 5, 10, 15, 30 or 60)."
  validation {
    condition     = contains([1, 5, 10, 15, 30, 60], var.monitoring_interval)
    error_message = "monitoring_interval must be 1, 5, 10, 15, 30 or 60 (enhanced monitoring stays on)."
  }
}

variable "tags" {
  type        = map(string)
  default     = {}
  description = "Tags for every resource."
}
