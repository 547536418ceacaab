variable "name" {
  type        = string
  description = "Name of the role and instance profile."
}

variable "regions" {
  type        = list(string)
  description = "Regions the instances run in (A, and B after a failover): SSM paths and log groups are regional."
}

variable "bucket_arns" {
  type        = list(string)
  description = "The recordings buckets: region A's and its replica in region B."
}

variable "s3_prefix" {
  type        = string
  default     = ""
  description = "S3_PREFIX; the role reaches only <prefix>recordings/*."
}

variable "bucket_kms_key_arns" {
  type        = list(string)
  description = "The buckets' KMS keys."
}

variable "db_username" {
  type        = string
  default     = "switchboard"
  description = "The database user the service connects as with IAM authentication (GRANT rds_iam)."
}

variable "db_resource_ids" {
  type        = map(string)
  description = "Region → DbiResourceId of the instance the service may connect to there (the primary in A, region B's replica, the writer once promoted)."
}

variable "config_ssm_path" {
  type        = string
  description = "CONFIG_SSM_PATH, e.g. /switchboard/production (no trailing slash)."
  validation {
    condition     = startswith(var.config_ssm_path, "/") && !endswith(var.config_ssm_path, "/")
    error_message = "config_ssm_path must start with / and not end with /."
  }
}

variable "config_kms_key_arns" {
  type        = list(string)
  default     = []
  description = "Customer managed keys of the SecureString parameters; empty when they use aws/ssm."
}

variable "log_group_name" {
  type        = string
  default     = "/switchboard/app"
  description = "Must equal log_group_name in ami/files/amazon-cloudwatch-agent.json."
}

variable "metrics_namespace" {
  type        = string
  default     = "switchboard/host"
  description = "Must equal metrics.namespace in ami/files/amazon-cloudwatch-agent.json."
}

variable "bedrock_model_arns" {
  type        = list(string)
  default     = []
  description = "Bedrock models or inference profiles the assistant may invoke (ASSISTANT=bedrock)."
}

variable "tags" {
  type        = map(string)
  default     = {}
  description = "Tags for every resource."
}

variable "session_manager" {
  type        = bool
  default     = true
  description = "Allow shell access through SSM Session Manager (the only way in: no SSH)."
}
