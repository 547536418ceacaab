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
