variable "bucket_name" {
  type        = string
  description = "The recordings bucket (S3_BUCKET in its region); globally unique."
}

variable "prefix" {
  type        = string
  default     = ""
  description = "S3_PREFIX: the service writes recordings under <prefix>recordings/. Empty, or ends with /."
  validation {
    condition     = var.prefix == "" || endswith(var.prefix, "/")
    error_message = "prefix must be empty or end with /."
  }
}

variable "infrequent_access_after_days" {
  type        = number
  default     = 30
  description = "Recordings are rarely replayed after the first weeks."
}

variable "noncurrent_expiration_days" {
  type        = number
  default     = 30
  description = "How long an overwritten or deleted recording stays recoverable."
}

variable "retention_days" {
  type        = number
  default     = 0
  description = "RETENTION_DAYS: the service deletes recordings older than this, every version, in both buckets; 0 keeps them. With it, a lifecycle rule deletes what the service has not, retention_backstop_days later."
  validation {
    condition     = var.retention_days >= 0 && var.retention_days <= 36500 && floor(var.retention_days) == var.retention_days
    error_message = "retention_days must be a whole number of days from 0 (keep forever) to 36500."
  }
}

variable "retention_backstop_days" {
  type        = number
  default     = 7
  description = "How long after retention_days the lifecycle backstop expires a recording the service did not delete, and then how long its noncurrent versions are kept."
  validation {
    condition     = var.retention_backstop_days >= 1 && var.retention_backstop_days <= 30 && floor(var.retention_backstop_days) == var.retention_backstop_days
    error_message = "retention_backstop_days must be a whole number from 1 to 30."
  }
}

variable "replication" {
  type = object({
    bucket_arn  = string
    kms_key_arn = string
    region      = string
  })
  default     = null
  description = "The replica bucket (versioned, in another region), its KMS key and region; null replicates nowhere."
}

variable "access_logs_bucket" {
  type        = string
  default     = null
  description = "A bucket in this region for S3 server access logs; null leaves them off (CloudTrail data events are the audit trail)."
}

variable "tags" {
  type        = map(string)
  default     = {}
  description = "Tags for every resource."
}
