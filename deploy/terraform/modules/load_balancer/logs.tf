# The access-log bucket, unless an existing one is named. Load balancers
# write their logs with SSE-S3 only (SSE-KMS is not supported for ALB access
# logs), so this bucket cannot use a customer managed key.

locals {
  create_logs_bucket = var.access_logs_enabled && var.access_logs_bucket == null
  access_logs_bucket = local.create_logs_bucket ? aws_s3_bucket.access_logs[0].bucket : var.access_logs_bucket
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

# Regions opened before August 2022 deliver logs from a regional Elastic
# Load Balancing account; later ones from the log delivery service.
data "aws_elb_service_account" "current" {
  count = local.create_logs_bucket ? 1 : 0
}

# trivy:ignore:AWS-0089 This is the log bucket; logging its own accesses would log into itself.
resource "aws_s3_bucket" "access_logs" {
  count         = local.create_logs_bucket ? 1 : 0
  bucket_prefix = "${substr(var.name, 0, 25)}-alb-logs-"
  tags          = var.tags
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  count  = local.create_logs_bucket ? 1 : 0
  bucket = aws_s3_bucket.access_logs[0].bucket
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  count                   = local.create_logs_bucket ? 1 : 0
  bucket                  = aws_s3_bucket.access_logs[0].bucket
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "access_logs" {
  count  = local.create_logs_bucket ? 1 : 0
  bucket = aws_s3_bucket.access_logs[0].bucket
  versioning_configuration {
    status = "Enabled"
  }
}

# trivy:ignore:AWS-0132 Load balancers write access logs with SSE-S3 only; SSE-KMS is not supported for them.
resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  count  = local.create_logs_bucket ? 1 : 0
  bucket = aws_s3_bucket.access_logs[0].bucket
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  count  = local.create_logs_bucket ? 1 : 0
  bucket = aws_s3_bucket_versioning.access_logs[0].bucket

  rule {
    id     = "expire"
    status = "Enabled"
    filter {}
    expiration {
      days = var.access_logs_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "access_logs" {
  count = local.create_logs_bucket ? 1 : 0

  statement {
    sid       = "LoadBalancerAccount"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs[0].arn}/${var.name}/AWSLogs/${data.aws_caller_identity.current.account_id}/*"]
    principals {
      type        = "AWS"
      identifiers = [data.aws_elb_service_account.current[0].arn]
    }
  }

  statement {
    sid       = "LogDeliveryService"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs[0].arn}/${var.name}/AWSLogs/${data.aws_caller_identity.current.account_id}/*"]
    principals {
      type        = "Service"
      identifiers = ["logdelivery.elasticloadbalancing.amazonaws.com"]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.access_logs[0].arn, "${aws_s3_bucket.access_logs[0].arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "access_logs" {
  count      = local.create_logs_bucket ? 1 : 0
  bucket     = aws_s3_bucket.access_logs[0].bucket
  policy     = data.aws_iam_policy_document.access_logs[0].json
  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}
