variable "name" {
  type        = string
  default     = "switchboard-prod"
  description = "Prefix for every resource name."
}

variable "primary_region" {
  type        = string
  description = "Region A: the writer, the bucket and the running service."
}

variable "dr_region" {
  type        = string
  description = "Region B: the database replica, and compute after a failover."
}

variable "primary_cidr" {
  type        = string
  default     = "10.20.0.0/16"
  description = "Region A's VPC."
}

variable "dr_cidr" {
  type        = string
  default     = "10.21.0.0/16"
  description = "Region B's VPC."
}

variable "ami_id" {
  type        = string
  description = "The AMI built from ami/ in region A."
}

variable "dr_ami_id" {
  type        = string
  default     = null
  description = "The same AMI copied to region B (packer copy_regions); needed when dr_compute_enabled."
  validation {
    condition     = !var.dr_compute_enabled || var.dr_ami_id != null
    error_message = "dr_compute_enabled needs dr_ami_id (the AMI copied to region B): without it region B's group can never launch."
  }
}

variable "instance_type" {
  type        = string
  default     = "t3.small"
  description = "Must match the AMI's architecture."
}

variable "certificate_arn" {
  type        = string
  description = "ACM certificate for the public host name, in region A."
}

variable "dr_certificate_arn" {
  type        = string
  default     = null
  description = "The same host name's certificate in region B; needed when dr_compute_enabled."
  validation {
    condition     = !var.dr_compute_enabled || var.dr_certificate_arn != null
    error_message = "dr_compute_enabled needs dr_certificate_arn (an ACM certificate in region B): without it region B's HTTPS listener cannot be created."
  }
}

variable "public_base_url" {
  type        = string
  description = "PUBLIC_BASE_URL: the https URL Twilio calls (Twilio signs it)."
}

variable "bucket_name" {
  type        = string
  description = "The recordings bucket in region A, globally unique."
}

variable "replica_bucket_name" {
  type        = string
  description = "Its replica in region B (the bucket region B's service uses after a failover), globally unique."
}

variable "s3_prefix" {
  type        = string
  default     = ""
  description = "S3_PREFIX; empty or ending in /."
}

variable "retention_days" {
  type        = number
  default     = 0
  description = "RETENTION_DAYS in both regions: calls, their data and their recordings are deleted once this old; 0 keeps them forever. Both buckets get a lifecycle backstop retention_backstop_days later."
  validation {
    condition     = var.retention_days >= 0 && var.retention_days <= 36500 && floor(var.retention_days) == var.retention_days
    error_message = "retention_days must be a whole number of days from 0 (keep forever) to 36500."
  }
}

variable "retention_backstop_days" {
  type        = number
  default     = 7
  description = "How much longer than retention_days the buckets' lifecycle rules keep a recording the service did not delete."
}

variable "config_ssm_path" {
  type        = string
  default     = "/switchboard/production"
  description = "CONFIG_SSM_PATH in both regions."
}

variable "db_username" {
  type        = string
  default     = "switchboard"
  description = "The service's database user (IAM authentication)."
}

variable "db_max_connections" {
  type        = number
  default     = 400
  description = "max_connections of the instance class, for the connections alarm."
}

variable "dr_compute_enabled" {
  type        = bool
  default     = false
  description = "Keep a load balancer and an Auto Scaling group (at capacity 0) in region B, so a failover needs no Terraform: the runbook scales the group with the CLI. Needs dr_ami_id and dr_certificate_arn."
}

variable "dr_promoted" {
  type        = bool
  default     = false
  description = "Region B's replica has been promoted (docs/runbooks/disaster-recovery.md): it is the writer, Multi-AZ and watched as one; region B's group runs at min_size..max_size and region A's at 0."
}

variable "min_size" {
  type        = number
  default     = 2
  description = "Smallest number of instances per active region."
}

variable "max_size" {
  type        = number
  default     = 6
  description = "Largest number of instances per active region."
}

variable "bedrock_model_arns" {
  type        = list(string)
  default     = []
  description = "Bedrock models the assistant may use (ASSISTANT=bedrock)."
}

variable "tags" {
  type        = map(string)
  default     = {}
  description = "Extra tags for every resource."
}

variable "console_oidc" {
  type = object({
    issuer                 = string
    authorization_endpoint = string
    token_endpoint         = string
    user_info_endpoint     = string
    client_id              = string
    scope                  = optional(string, "openid email")
    session_timeout        = optional(number, 43200)
    # Who may use the console: e-mail domains, or groups in groups_claim.
    allowed_domains = optional(list(string), [])
    allowed_groups  = optional(list(string), [])
    groups_claim    = optional(string, "groups")
    # The identity provider's logout page, where Sign out ends.
    logout_url = optional(string, "")
  })
  default     = null
  description = "Sign people in to the console (/console*) at the load balancer with this OpenID Connect provider, and set CONSOLE_AUTH=oidc in both regions. null keeps the console's own sign-in with an API token."

  validation {
    condition     = var.console_oidc == null || length(try(var.console_oidc.allowed_domains, [])) + length(try(var.console_oidc.allowed_groups, [])) > 0
    error_message = "console_oidc needs allowed_domains or allowed_groups: without an allow-list anyone the identity provider knows would be let in."
  }
}

variable "console_oidc_client_secret" {
  type        = string
  default     = null
  sensitive   = true
  description = "The OIDC client's secret (with console_oidc). The listener rule needs it, so it is kept, marked sensitive, in Terraform's state."
}
