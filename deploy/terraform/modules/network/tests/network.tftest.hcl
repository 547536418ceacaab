# The VPC, planned against a mocked provider.

mock_provider "aws" {
  source = "../../mocks/eu-west-1"
}

variables {
  name       = "switchboard-test"
  cidr_block = "10.20.0.0/16"
}

run "vpc" {
  command = apply

  assert {
    condition     = alltrue([for s in concat(aws_subnet.public, aws_subnet.private) : !s.map_public_ip_on_launch])
    error_message = "No subnet hands out public IPs."
  }
  assert {
    condition     = length(aws_default_security_group.this.ingress) == 0 && length(aws_default_security_group.this.egress) == 0
    error_message = "The default security group allows nothing."
  }
  assert {
    condition     = aws_flow_log.this[0].traffic_type == "ALL" && aws_flow_log.this[0].log_destination_type == "cloud-watch-logs"
    error_message = "VPC flow logs are on by default, for all traffic."
  }
  assert {
    condition     = aws_cloudwatch_log_group.flow_logs[0].kms_key_id == aws_kms_key.flow_logs[0].arn && aws_kms_key.flow_logs[0].enable_key_rotation
    error_message = "Flow logs are encrypted with a rotating key."
  }
  assert {
    condition     = aws_vpc_endpoint.s3.service_name == "com.amazonaws.eu-west-1.s3" && aws_vpc_endpoint.s3.vpc_endpoint_type == "Gateway"
    error_message = "S3 is reached through the region's gateway endpoint."
  }
  assert {
    condition     = length(aws_nat_gateway.this) == 2
    error_message = "One NAT gateway per AZ by default."
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.db_from_app.from_port == 5432 && aws_vpc_security_group_ingress_rule.db_from_app.referenced_security_group_id == aws_security_group.app.id
    error_message = "Only the instances reach the database."
  }
}

run "single_nat" {
  command = plan

  variables {
    single_nat_gateway = true
    flow_logs_enabled  = false
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 1 && length(aws_flow_log.this) == 0
    error_message = "A standby region may run one NAT gateway; flow logs can be turned off."
  }
}
