variable "name" {
  type        = string
  description = "Prefix for alarm and topic names."
}

variable "load_balancer" {
  type = object({
    arn_suffix              = string
    target_group_arn_suffix = string
  })
  default     = null
  description = "The ALB and target group to watch; null when this region runs no compute."
}

variable "database" {
  type = object({
    identifier      = string
    max_connections = number
  })
  default     = null
  description = "The writer to watch (region A's, or region B's promoted replica); null where there is none."
}

variable "replica" {
  type = object({
    identifier = string
  })
  default     = null
  description = "The cross-region replica to watch; null once it is promoted."
}

variable "target_5xx_threshold" {
  type        = number
  default     = 10
  description = "5xx answers per 5 minutes that page someone."
}

variable "response_time_p99_seconds" {
  type        = number
  default     = 3
  description = "Twilio gives a webhook 15 s; a p99 above this means callers wait."
}

variable "free_storage_bytes" {
  type        = number
  default     = 2147483648
  description = "Alarm when free storage falls below this (autoscaling may be at its ceiling)."
}

variable "replica_lag_seconds" {
  type        = number
  default     = 600
  description = "Replica lag is the data a failover would lose; RDS reports up to 300 s on a replica whose source is idle."
  validation {
    condition     = var.replica_lag_seconds > 300
    error_message = "replica_lag_seconds must exceed the 300 s of lag RDS reports when the source is idle, or the alarm pages on quiet nights."
  }
}

variable "tags" {
  type        = map(string)
  default     = {}
  description = "Tags for every resource."
}
