# The non-secret settings under CONFIG_SSM_PATH, in both regions. Secrets
# (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, API_TOKENS, OPENAI_API_KEY,
# CONSOLE_SESSION_KEY) are put
# as SecureStrings by an operator (docs/runbooks/rotating-secrets.md) so they
# never enter Terraform state. Empty settings (S3_PREFIX by default) are left
# out: SSM rejects empty values and the service's default applies.
#
# Each region's settings name that region's database and bucket, so region
# B's are already right when a failover starts: its DATABASE_URL names the
# replica (the same endpoint once promoted) and its S3_BUCKET the replica
# bucket. S3_REGION is the bucket's region; AWS_REGION (from user-data) stays
# the instance's own, for SSM and the database's IAM tokens.
# S3_REPLICA_BUCKET and S3_REPLICA_REGION name the other region's bucket, in
# which deleting a call must delete every version too.

locals {
  # The load balancer's part of the console's OIDC sign-in.
  console_oidc_lb = var.console_oidc == null ? null : {
    issuer                 = var.console_oidc.issuer
    authorization_endpoint = var.console_oidc.authorization_endpoint
    token_endpoint         = var.console_oidc.token_endpoint
    user_info_endpoint     = var.console_oidc.user_info_endpoint
    client_id              = var.console_oidc.client_id
    scope                  = var.console_oidc.scope
    session_timeout        = var.console_oidc.session_timeout
  }
  # The service's part: trust the assertions of the region's own load
  # balancer (CONSOLE_OIDC_ALB_ARN is set per region, below), and only the
  # people on the allow-list. Empty lists are left out (SSM rejects empty
  # values).
  console_oidc_settings = var.console_oidc == null ? {} : merge(
    { CONSOLE_AUTH = "oidc", CONSOLE_OIDC_GROUPS_CLAIM = var.console_oidc.groups_claim },
    length(var.console_oidc.allowed_domains) == 0 ? {} : { CONSOLE_OIDC_ALLOWED_DOMAINS = join(",", var.console_oidc.allowed_domains) },
    length(var.console_oidc.allowed_groups) == 0 ? {} : { CONSOLE_OIDC_ALLOWED_GROUPS = join(",", var.console_oidc.allowed_groups) },
    var.console_oidc.logout_url == "" ? {} : { CONSOLE_OIDC_LOGOUT_URL = var.console_oidc.logout_url },
  )

  common_settings = merge(var.s3_prefix == "" ? {} : { S3_PREFIX = var.s3_prefix }, local.console_oidc_settings,
    var.retention_days == 0 ? {} : { RETENTION_DAYS = tostring(var.retention_days) }, {
      SWITCHBOARD_ENV                               = "production"
      PUBLIC_BASE_URL                               = var.public_base_url
      DB_IAM_AUTH                                   = "true"
      DB_CA_FILE                                    = "/etc/switchboard/rds-ca.pem"
      DB_MIGRATE_ON_START                           = "true"
      # Drain as soon as the Auto Scaling group takes an instance out, while
      # the load balancer deregisters it (deploy/terraform/README.md).
      LIFECYCLE_POLL_INTERVAL = "5s"
  })

  settings = {
    primary = merge(local.common_settings, var.console_oidc == null ? {} : {
      CONSOLE_OIDC_ALB_ARN = module.load_balancer_primary.arn
      }, local.region_a_database == null ? {} : {
      DATABASE_URL = "postgres://${var.db_username}@${local.region_a_database.address}:5432/switchboard?sslmode=verify-full"
      }, {
      TRUSTED_PROXIES   = join(",", module.network_primary.public_subnet_cidrs)
      S3_BUCKET         = module.storage.bucket_name
      S3_REGION         = var.primary_region
      S3_KMS_KEY_ID     = module.storage.kms_key_arn
      S3_REPLICA_BUCKET = module.storage_dr.bucket_name
      S3_REPLICA_REGION = var.dr_region
    })
    dr = merge(local.common_settings, var.console_oidc == null || !var.dr_compute_enabled ? {} : {
      CONSOLE_OIDC_ALB_ARN = module.load_balancer_dr[0].arn
      }, {
      DATABASE_URL      = "postgres://${var.db_username}@${module.database_dr.address}:5432/switchboard?sslmode=verify-full"
      TRUSTED_PROXIES   = join(",", module.network_dr.public_subnet_cidrs)
      S3_BUCKET         = module.storage_dr.bucket_name
      S3_REGION         = var.dr_region
      S3_KMS_KEY_ID     = module.storage_dr.kms_key_arn
      S3_REPLICA_BUCKET = module.storage.bucket_name
      S3_REPLICA_REGION = var.primary_region
    })
  }
}

resource "aws_ssm_parameter" "primary" {
  provider = aws.primary
  for_each = local.settings.primary
  name     = "${var.config_ssm_path}/${each.key}"
  type     = "String"
  value    = each.value
}

resource "aws_ssm_parameter" "dr" {
  provider = aws.dr
  for_each = local.settings.dr
  name     = "${var.config_ssm_path}/${each.key}"
  type     = "String"
  value    = each.value
}
