output "vpc_id" {
  value       = aws_vpc.this.id
  description = "The VPC."
}

output "public_subnet_ids" {
  value       = aws_subnet.public[*].id
  description = "Subnets for the load balancer."
}

output "public_subnet_cidrs" {
  value       = aws_subnet.public[*].cidr_block
  description = "The load balancer's subnets: the service's TRUSTED_PROXIES."
}

output "private_subnet_ids" {
  value       = aws_subnet.private[*].id
  description = "Subnets for the instances and the database."
}

output "alb_security_group_id" {
  value       = aws_security_group.alb.id
  description = "For the load balancer."
}

output "app_security_group_id" {
  value       = aws_security_group.app.id
  description = "For the instances."
}

output "database_security_group_id" {
  value       = aws_security_group.database.id
  description = "For the database (or its replica)."
}
