variable "name" {
  type        = string
  description = "Prefix for every resource name."
}

variable "vpc_id" {
  type        = string
  description = "The VPC of the targets."
}

variable "subnet_ids" {
  type        = list(string)
  description = "Public subnets, one per AZ."
}

variable "security_group_id" {
  type        = string
  description = "The load balancer's security group (from the network module)."
}

variable "certificate_arn" {
  type        = string
  description = "ACM certificate for PUBLIC_BASE_URL's host name, in this region."
}

variable "app_port" {
  type        = number
  default     = 8080
  description = "The port the service listens on (LISTEN_ADDR)."
}

variable "access_logs_enabled" {
  type        = bool
  default     = true
  description = "Write ALB access logs (to access_logs_bucket, or to a bucket this module creates)."
}

variable "access_logs_bucket" {
  type        = string
  default     = null
  description = "An existing bucket, in this region, that allows ELB log delivery; null creates one."
}

variable "access_logs_retention_days" {
  type        = number
  default     = 90
  description = "Days the created access-log bucket keeps logs."
}

variable "deletion_protection" {
  type        = bool
  default     = true
  description = "Protects the load balancer from an accidental destroy."
}

variable "tags" {
  type        = map(string)
  default     = {}
  description = "Tags for every resource."
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
  })
  default     = null
  description = "When set, the load balancer signs people in to the console (/console*) with this OpenID Connect provider before forwarding; the service then runs with CONSOLE_AUTH=oidc. Twilio's webhooks and the API are never behind it: neither can do OIDC."
}

variable "console_oidc_client_secret" {
  type        = string
  default     = null
  sensitive   = true
  description = "The OIDC client's secret (required with console_oidc). The listener rule needs it, so it is kept, marked sensitive, in Terraform's state."
}
