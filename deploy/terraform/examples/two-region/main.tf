# ADR 0004 in two regions: region A serves; region B holds a cross-region
# read replica of the database, a replica of the recordings bucket and,
# with dr_compute_enabled, a load balancer and an Auto Scaling group at
# capacity 0, so that a failover needs no Terraform at all
# (docs/runbooks/disaster-recovery.md). A promotion is modelled in place
# (dr_promoted): provider regions are never swapped.

locals {
  tags = merge(var.tags, { Application = "switchboard" })

  # Instances run where the writer is: region A until region B's replica is
  # promoted, then region B. The other region's group is held at 0 so it
  # cannot write to a former writer.
  size = {
    primary = var.dr_promoted ? { min = 0, max = 0 } : { min = var.min_size, max = var.max_size }
    dr      = var.dr_promoted ? { min = var.min_size, max = var.max_size } : { min = 0, max = 0 }
  }
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

# The recordings bucket in region A replicates to its replica in region B,
# which region B's service uses after a failover.
module "storage" {
  source    = "../../modules/storage"
  providers = { aws = aws.primary }

  bucket_name             = var.bucket_name
  prefix                  = var.s3_prefix
  retention_days          = var.retention_days
  retention_backstop_days = var.retention_backstop_days
  replication = {
    bucket_arn  = module.storage_dr.bucket_arn
    kms_key_arn = module.storage_dr.kms_key_arn
    region      = var.dr_region
  }
}

module "storage_dr" {
  source    = "../../modules/storage"
  providers = { aws = aws.dr }

  bucket_name             = var.replica_bucket_name
  prefix                  = var.s3_prefix
  retention_days          = var.retention_days
  retention_backstop_days = var.retention_backstop_days
}

module "iam" {
  source    = "../../modules/iam"
  providers = { aws = aws.primary }

  name                = var.name
  regions             = [var.primary_region, var.dr_region]
  bucket_arns         = [module.storage.bucket_arn, module.storage_dr.bucket_arn]
  bucket_kms_key_arns = [module.storage.kms_key_arn, module.storage_dr.kms_key_arn]
  s3_prefix           = var.s3_prefix
  db_username         = var.db_username
  config_ssm_path     = var.config_ssm_path
  bedrock_model_arns  = var.bedrock_model_arns
  db_resource_ids = merge(
    local.region_a_database == null ? {} : { (var.primary_region) = local.region_a_database.resource_id },
    { (var.dr_region) = module.database_dr.resource_id },
  )
}

module "load_balancer_primary" {
  source    = "../../modules/load_balancer"
  providers = { aws = aws.primary }

  name              = var.name
  vpc_id            = module.network_primary.vpc_id
  subnet_ids        = module.network_primary.public_subnet_ids
  security_group_id = module.network_primary.alb_security_group_id
  certificate_arn   = var.certificate_arn

  console_oidc               = local.console_oidc_lb
  console_oidc_client_secret = var.console_oidc_client_secret
}

module "compute_primary" {
  source    = "../../modules/compute"
  providers = { aws = aws.primary }

  name                  = var.name
  ami_id                = var.ami_id
  instance_type         = var.instance_type
  subnet_ids            = module.network_primary.private_subnet_ids
  security_group_id     = module.network_primary.app_security_group_id
  instance_profile_name = module.iam.instance_profile_name
  # Read through the parameters so the group starts after its settings
  # exist; a module-level depends_on would defer every data source in the
  # module to apply time on any parameter change.
  config_ssm_path         = length(aws_ssm_parameter.primary) > 0 ? var.config_ssm_path : var.config_ssm_path
  target_group_arn        = module.load_balancer_primary.target_group_arn
  alb_arn_suffix          = module.load_balancer_primary.arn_suffix
  target_group_arn_suffix = module.load_balancer_primary.target_group_arn_suffix
  min_size                = local.size.primary.min
  max_size                = local.size.primary.max
  refresh_alarm_names     = module.alarms_primary.deploy_alarm_names
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

  console_oidc               = local.console_oidc_lb
  console_oidc_client_secret = var.console_oidc_client_secret
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
  config_ssm_path         = length(aws_ssm_parameter.dr) > 0 ? var.config_ssm_path : var.config_ssm_path
  target_group_arn        = module.load_balancer_dr[0].target_group_arn
  alb_arn_suffix          = module.load_balancer_dr[0].arn_suffix
  target_group_arn_suffix = module.load_balancer_dr[0].target_group_arn_suffix
  min_size                = local.size.dr.min
  max_size                = local.size.dr.max
  refresh_alarm_names     = module.alarms_dr.deploy_alarm_names
}

module "alarms_primary" {
  source    = "../../modules/alarms"
  providers = { aws = aws.primary }

  name = var.name
  load_balancer = {
    arn_suffix              = module.load_balancer_primary.arn_suffix
    target_group_arn_suffix = module.load_balancer_primary.target_group_arn_suffix
  }
  database = local.region_a_database == null || var.dr_promoted ? null : {
    identifier      = local.region_a_database.identifier
    max_connections = var.db_max_connections
  }
  replica = local.region_a_replica
}

# Region B's writer alarms exist once its replica is promoted; until then
# only the replica's lag is watched there.
module "alarms_dr" {
  source    = "../../modules/alarms"
  providers = { aws = aws.dr }

  name = "${var.name}-dr"
  database = var.dr_promoted ? {
    identifier      = module.database_dr.identifier
    max_connections = var.db_max_connections
  } : null
  replica = var.dr_promoted ? null : {
    identifier = module.database_dr.identifier
  }
  load_balancer = var.dr_compute_enabled ? {
    arn_suffix              = module.load_balancer_dr[0].arn_suffix
    target_group_arn_suffix = module.load_balancer_dr[0].target_group_arn_suffix
  } : null
}
