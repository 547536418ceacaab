# The instance role. IAM is global, so one role serves both regions; every
# statement names the resources it needs. The only "*" resources are for
# actions that support no resource-level permissions (cloudwatch:PutMetricData,
# narrowed by namespace, ec2:DescribeTags and the Session Manager channels).

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

locals {
  partition = data.aws_partition.current.partition
  account   = data.aws_caller_identity.current.account_id
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "instance" {
  name                 = var.name
  assume_role_policy   = data.aws_iam_policy_document.assume.json
  max_session_duration = 3600
  tags                 = var.tags
}

resource "aws_iam_instance_profile" "instance" {
  name = var.name
  role = aws_iam_role.instance.name
  tags = var.tags
}

data "aws_iam_policy_document" "instance" {
  # Recordings in the bucket of each region (region B's is the replica of
  # region A's). Deleting a call deletes every version of its recording in
  # both: replication never carries the deletion of a version.
  statement {
    sid       = "Recordings"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:AbortMultipartUpload"]
    resources = [for arn in var.bucket_arns : "${arn}/${var.s3_prefix}recordings/*"]
  }

  # HeadBucket (the readiness check) is authorized as s3:ListBucket,
  # ListObjectVersions (finding every version to delete) as
  # s3:ListBucketVersions; neither takes a prefix in its resource.
  statement {
    sid       = "RecordingsBuckets"
    actions   = ["s3:ListBucket", "s3:ListBucketVersions"]
    resources = var.bucket_arns
  }

  statement {
    sid       = "RecordingsKeys"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = var.bucket_kms_key_arns
    condition {
      test     = "StringLike"
      variable = "kms:ViaService"
      values   = [for r in var.regions : "s3.${r}.amazonaws.com"]
    }
  }

  statement {
    sid       = "DatabaseConnect"
    actions   = ["rds-db:connect"]
    resources = [for region, id in var.db_resource_ids : "arn:${local.partition}:rds-db:${region}:${local.account}:dbuser:${id}/${var.db_username}"]
  }

  statement {
    sid     = "Configuration"
    actions = ["ssm:GetParametersByPath", "ssm:GetParameter"]
    resources = flatten([for r in var.regions : [
      "arn:${local.partition}:ssm:${r}:${local.account}:parameter${var.config_ssm_path}",
      "arn:${local.partition}:ssm:${r}:${local.account}:parameter${var.config_ssm_path}/*",
    ]])
  }

  dynamic "statement" {
    for_each = length(var.config_kms_key_arns) > 0 ? [1] : []
    content {
      sid       = "ConfigurationKey"
      actions   = ["kms:Decrypt"]
      resources = var.config_kms_key_arns
      condition {
        test     = "StringLike"
        variable = "kms:ViaService"
        values   = [for r in var.regions : "ssm.${r}.amazonaws.com"]
      }
    }
  }

  statement {
    sid     = "AgentLogs"
    actions = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = flatten([for r in var.regions : [
      "arn:${local.partition}:logs:${r}:${local.account}:log-group:${var.log_group_name}",
      "arn:${local.partition}:logs:${r}:${local.account}:log-group:${var.log_group_name}:log-stream:*",
    ]])
  }

  statement {
    sid       = "AgentMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [var.metrics_namespace]
    }
  }

  statement {
    sid       = "AgentDimensions"
    actions   = ["ec2:DescribeTags"]
    resources = ["*"]
  }

  # Session Manager replaces SSH (no key pairs, no port 22). These are the
  # agent's needs without AmazonSSMManagedInstanceCore, which would also
  # grant ssm:GetParameter on every parameter in the account.
  dynamic "statement" {
    for_each = var.session_manager ? [1] : []
    content {
      sid       = "SessionManagerRegistration"
      actions   = ["ssm:UpdateInstanceInformation"]
      resources = [for r in var.regions : "arn:${local.partition}:ec2:${r}:${local.account}:instance/*"]
    }
  }

  dynamic "statement" {
    for_each = var.session_manager ? [1] : []
    content {
      sid       = "SessionManagerChannels"
      actions   = ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = length(var.bedrock_model_arns) > 0 ? [1] : []
    content {
      sid       = "Assistant"
      actions   = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]
      resources = var.bedrock_model_arns
    }
  }
}

resource "aws_iam_role_policy" "instance" {
  name   = "switchboard"
  role   = aws_iam_role.instance.id
  policy = data.aws_iam_policy_document.instance.json
}
