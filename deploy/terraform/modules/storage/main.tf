# A recordings bucket: private, TLS-only, SSE-KMS with a bucket key and a
# rotating customer managed key (recordings are personal data: the key
# policy and CloudTrail say who could read them), versioned, with lifecycle
# rules. The example makes one in region A and its replica in region B, and
# region A's replicates to region B's (replication.tf).

resource "aws_kms_key" "recordings" {
  description             = "switchboard recordings in ${var.bucket_name}"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  tags                    = var.tags
}

resource "aws_kms_alias" "recordings" {
  name          = "alias/${var.bucket_name}"
  target_key_id = aws_kms_key.recordings.key_id
}

# trivy:ignore:AWS-0089 Server access logging is optional (access_logs_bucket); CloudTrail data events are the audit trail.
resource "aws_s3_bucket" "recordings" {
  bucket = var.bucket_name
  tags   = var.tags
}

resource "aws_s3_bucket_ownership_controls" "recordings" {
  bucket = aws_s3_bucket.recordings.bucket
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "recordings" {
  bucket                  = aws_s3_bucket.recordings.bucket
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "recordings" {
  bucket = aws_s3_bucket.recordings.bucket
  versioning_configuration {
    status = "Enabled"
  }
}

# The bucket key cuts KMS requests (and cost) per object to one per bucket
# key lifetime.
resource "aws_s3_bucket_server_side_encryption_configuration" "recordings" {
  bucket = aws_s3_bucket.recordings.bucket
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.recordings.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_logging" "recordings" {
  count         = var.access_logs_bucket == null ? 0 : 1
  bucket        = aws_s3_bucket.recordings.bucket
  target_bucket = var.access_logs_bucket
  target_prefix = "s3/${var.bucket_name}/"
}

resource "aws_s3_bucket_lifecycle_configuration" "recordings" {
  bucket = aws_s3_bucket_versioning.recordings.bucket

  rule {
    id     = "recordings"
    status = "Enabled"
    filter {
      prefix = "${var.prefix}recordings/"
    }
    transition {
      days          = var.infrequent_access_after_days
      storage_class = "STANDARD_IA"
    }
    # A deleted or overwritten recording stays recoverable this long, then
    # its versions go, in each bucket by its own rule: replication never
    # carries the deletion of a version.
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_expiration_days
    }
    expiration {
      expired_object_delete_marker = true
    }
  }

  # The retention backstop. The service deletes a call's recordings (every
  # version, in both buckets) once the call is RETENTION_DAYS old; this
  # rule deletes what it missed a few days later: the current version
  # expires (a delete marker), then every noncurrent version, whatever the
  # rule above keeps. Overlapping expirations resolve to the shorter one
  # (https://docs.aws.amazon.com/AmazonS3/latest/userguide/lifecycle-conflicts.html).
  # Its own rule, since an expiration in days cannot also remove expired
  # delete markers (API_LifecycleExpiration), which the rule above does.
  dynamic "rule" {
    for_each = var.retention_days > 0 ? [var.retention_days + var.retention_backstop_days] : []
    content {
      id     = "retention-backstop"
      status = "Enabled"
      filter {
        prefix = "${var.prefix}recordings/"
      }
      expiration {
        days = rule.value
      }
      noncurrent_version_expiration {
        noncurrent_days = var.retention_backstop_days
      }
    }
  }

  # A crashed streaming upload leaves parts that are billed but invisible.
  rule {
    id     = "abort-incomplete-multipart"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "recordings" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.recordings.arn, "${aws_s3_bucket.recordings.arn}/*"]
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

  statement {
    sid       = "DenyOutdatedTLS"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.recordings.arn, "${aws_s3_bucket.recordings.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }
}

resource "aws_s3_bucket_policy" "recordings" {
  bucket     = aws_s3_bucket.recordings.bucket
  policy     = data.aws_iam_policy_document.recordings.json
  depends_on = [aws_s3_bucket_public_access_block.recordings]
}
