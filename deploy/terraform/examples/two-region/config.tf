# The non-secret settings under CONFIG_SSM_PATH, in both regions. Secrets
# (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, API_TOKENS, OPENAI_API_KEY) are put
# as SecureStrings by an operator (docs/runbooks/rotating-secrets.md) so they
# never enter Terraform state. Empty settings (S3_PREFIX by default) are left
# out: SSM rejects empty values and the service's default applies.

locals {
  database_url = {
    primary = "postgres://${var.db_username}@${module.database.primary_address}:5432/switchboard?sslmode=verify-full"
    # Only usable after the replica is promoted; until then region B runs
    # no compute.
    dr = "postgres://${var.db_username}@${module.database.replica_address}:5432/switchboard?sslmode=verify-full"
  }
  common_settings = merge(var.s3_prefix == "" ? {} : { S3_PREFIX = var.s3_prefix }, {
    SWITCHBOARD_ENV     = "production"
    PUBLIC_BASE_URL     = var.public_base_url
    DB_IAM_AUTH         = "true"
    DB_CA_FILE          = "/etc/switchboard/rds-ca.pem"
    DB_MIGRATE_ON_START = "true"
    S3_BUCKET           = module.storage.bucket_name
    S3_KMS_KEY_ID       = module.storage.kms_key_arn
  })
}

resource "aws_ssm_parameter" "primary" {
  provider = aws.primary
  for_each = merge(local.common_settings, {
    DATABASE_URL    = local.database_url.primary
    TRUSTED_PROXIES = join(",", module.network_primary.public_subnet_cidrs)
  })
  name  = "${var.config_ssm_path}/${each.key}"
  type  = "String"
  value = each.value
}

resource "aws_ssm_parameter" "dr" {
  provider = aws.dr
  for_each = merge(local.common_settings, {
    DATABASE_URL    = local.database_url.dr
    TRUSTED_PROXIES = join(",", module.network_dr.public_subnet_cidrs)
  })
  name  = "${var.config_ssm_path}/${each.key}"
  type  = "String"
  value = each.value
}
