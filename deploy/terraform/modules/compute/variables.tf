variable "name" {
  type        = string
  description = "Prefix for every resource name."
}

variable "ami_id" {
  type        = string
  description = "The AMI built from ami/ (in this region: copy it with the template's copy_regions)."
}

variable "instance_type" {
  type        = string
  default     = "t3.small"
  description = "Must match the AMI's architecture."
}

variable "subnet_ids" {
  type        = list(string)
  description = "Private subnets for the instances."
}

variable "security_group_id" {
  type        = string
  description = "The instances' security group (from the network module)."
}

variable "instance_profile_name" {
  type        = string
  description = "From the iam module."
}

variable "target_group_arn" {
  type        = string
  description = "From the load_balancer module."
}

variable "alb_arn_suffix" {
  type        = string
  description = "For the request-count scaling policy's resource label."
}

variable "target_group_arn_suffix" {
  type        = string
  description = "For the request-count scaling policy's resource label."
}

variable "config_ssm_path" {
  type        = string
  description = "CONFIG_SSM_PATH: the Parameter Store path holding the service's settings."
}

variable "min_size" {
  type        = number
  default     = 2
  description = "At least one instance per AZ; 0 in a region on standby."
}

variable "max_size" {
  type        = number
  default     = 6
  description = "Keep max_size × the pool size below the database's max_connections."
}

variable "desired_capacity" {
  type        = number
  default     = null
  description = "Null lets the scaling policies own it after creation."
}

variable "requests_per_target" {
  type        = number
  default     = 500
  description = "Target for ALBRequestCountPerTarget (requests per minute per instance)."
}

variable "cpu_target" {
  type        = number
  default     = 60
  description = "Target average CPU utilization in percent."
}

variable "health_check_grace_period" {
  type        = number
  default     = 120
  description = "Seconds after launch before failed EC2 status checks replace an instance."
}

variable "kms_key_arn" {
  type        = string
  default     = null
  description = "KMS key for the root volume; null uses aws/ebs."
}

variable "tags" {
  type        = map(string)
  default     = {}
  description = "Tags for every resource."
}

variable "log_group_name" {
  type        = string
  default     = "/switchboard/app"
  description = "Must equal log_group_name in ami/files/amazon-cloudwatch-agent.json."
}

variable "log_retention_days" {
  type        = number
  default     = 30
  description = "How long the service's logs are kept."
}

variable "refresh_alarm_names" {
  type        = list(string)
  default     = []
  description = "CloudWatch alarms that fail an instance refresh when they go to ALARM (the alarms module's deploy_alarm_names)."
}
