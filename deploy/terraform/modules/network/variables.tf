variable "name" {
  type        = string
  description = "Prefix for every resource name, e.g. switchboard-prod."
}

variable "cidr_block" {
  type        = string
  description = "The VPC's CIDR block; split into /20 subnets."
}

variable "az_count" {
  type        = number
  default     = 2
  description = "Availability zones to span (at least two: the ALB and RDS need them)."
  validation {
    condition     = var.az_count >= 2
    error_message = "az_count must be at least 2."
  }
}

variable "single_nat_gateway" {
  type        = bool
  default     = false
  description = "One NAT gateway for all AZs: cheaper, but egress fails with its AZ."
}

variable "app_port" {
  type        = number
  default     = 8080
  description = "The port the service listens on (LISTEN_ADDR)."
}

variable "alb_ingress_cidrs" {
  type        = list(string)
  default     = ["0.0.0.0/0"]
  description = "Who may reach the load balancer; Twilio calls from the internet."
}

variable "interface_endpoints" {
  type        = list(string)
  default     = ["ssm", "logs", "monitoring"]
  description = "AWS services reached through interface endpoints instead of NAT (ssm for the config, logs and monitoring for the CloudWatch agent)."
}

variable "tags" {
  type        = map(string)
  default     = {}
  description = "Tags for every resource."
}

variable "flow_logs_enabled" {
  type        = bool
  default     = true
  description = "Record the VPC's flow logs in CloudWatch Logs."
}

variable "flow_logs_retention_days" {
  type        = number
  default     = 90
  description = "How long flow logs are kept."
}
