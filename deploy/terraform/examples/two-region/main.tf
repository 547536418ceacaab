# ADR 0004 in two regions: region A serves; region B holds a cross-region
# read replica and, after a failover, the service
# (docs/runbooks/disaster-recovery.md).

locals {
  tags = merge(var.tags, { Application = "switchboard" })
}

module "network_primary" {
  source    = "../../modules/network"
  providers = { aws = aws.primary }

  name       = var.name
  cidr_block = var.primary_cidr
}

module "network_dr" {
  source    = "../../modules/network"
  providers = { aws = aws.dr }

  name               = var.name
  cidr_block         = var.dr_cidr
  single_nat_gateway = !var.dr_compute_enabled
}

module "storage" {
  source    = "../../modules/storage"
  providers = { aws = aws.primary }

  bucket_name = var.bucket_name
  prefix      = var.s3_prefix
}

module "database" {
  source = "../../modules/database"
  providers = {
    aws    = aws.primary
    aws.dr = aws.dr
  }

  name                 = var.name
  subnet_ids           = module.network_primary.private_subnet_ids
  security_group_id    = module.network_primary.database_security_group_id
  dr_subnet_ids        = module.network_dr.private_subnet_ids
  dr_security_group_id = module.network_dr.database_security_group_id
}

module "iam" {
  source    = "../../modules/iam"
  providers = { aws = aws.primary }

  name               = var.name
  regions            = [var.primary_region, var.dr_region]
  bucket_arn         = module.storage.bucket_arn
  s3_prefix          = var.s3_prefix
  bucket_kms_key_arn = module.storage.kms_key_arn
  db_username        = var.db_username
  config_ssm_path    = var.config_ssm_path
  bedrock_model_arns = var.bedrock_model_arns
  db_resource_ids = {
    (var.primary_region) = module.database.primary_resource_id
    (var.dr_region)      = module.database.replica_resource_id
  }
}

module "load_balancer_primary" {
  source    = "../../modules/load_balancer"
  providers = { aws = aws.primary }

  name              = var.name
  vpc_id            = module.network_primary.vpc_id
  subnet_ids        = module.network_primary.public_subnet_ids
  security_group_id = module.network_primary.alb_security_group_id
  certificate_arn   = var.certificate_arn
}

module "compute_primary" {
  source    = "../../modules/compute"
  providers = { aws = aws.primary }

  name                    = var.name
  ami_id                  = var.ami_id
  instance_type           = var.instance_type
  subnet_ids              = module.network_primary.private_subnet_ids
  security_group_id       = module.network_primary.app_security_group_id
  instance_profile_name   = module.iam.instance_profile_name
  target_group_arn        = module.load_balancer_primary.target_group_arn
  alb_arn_suffix          = module.load_balancer_primary.arn_suffix
  target_group_arn_suffix = module.load_balancer_primary.target_group_arn_suffix
  config_ssm_path         = var.config_ssm_path
  min_size                = var.min_size
  max_size                = var.max_size

  depends_on = [aws_ssm_parameter.primary]
}

module "load_balancer_dr" {
  source    = "../../modules/load_balancer"
  providers = { aws = aws.dr }
  count     = var.dr_compute_enabled ? 1 : 0

  name              = var.name
  vpc_id            = module.network_dr.vpc_id
  subnet_ids        = module.network_dr.public_subnet_ids
  security_group_id = module.network_dr.alb_security_group_id
  certificate_arn   = var.dr_certificate_arn
}

module "compute_dr" {
  source    = "../../modules/compute"
  providers = { aws = aws.dr }
  count     = var.dr_compute_enabled ? 1 : 0

  name                    = var.name
  ami_id                  = var.dr_ami_id
  instance_type           = var.instance_type
  subnet_ids              = module.network_dr.private_subnet_ids
  security_group_id       = module.network_dr.app_security_group_id
  instance_profile_name   = module.iam.instance_profile_name
  target_group_arn        = module.load_balancer_dr[0].target_group_arn
  alb_arn_suffix          = module.load_balancer_dr[0].arn_suffix
  target_group_arn_suffix = module.load_balancer_dr[0].target_group_arn_suffix
  config_ssm_path         = var.config_ssm_path
  min_size                = var.min_size
  max_size                = var.max_size

  depends_on = [aws_ssm_parameter.dr]
}

module "alarms_primary" {
  source    = "../../modules/alarms"
  providers = { aws = aws.primary }

  name = var.name
  load_balancer = {
    arn_suffix              = module.load_balancer_primary.arn_suffix
    target_group_arn_suffix = module.load_balancer_primary.target_group_arn_suffix
  }
  database = {
    identifier      = module.database.primary_identifier
    max_connections = var.db_max_connections
  }
}

module "alarms_dr" {
  source    = "../../modules/alarms"
  providers = { aws = aws.dr }

  name = "${var.name}-dr"
  replica = {
    identifier = module.database.replica_identifier
  }
  load_balancer = var.dr_compute_enabled ? {
    arn_suffix              = module.load_balancer_dr[0].arn_suffix
    target_group_arn_suffix = module.load_balancer_dr[0].target_group_arn_suffix
  } : null
}
