# Cross-region replication of new object versions and delete markers to
# the replica bucket (var.replication). It never carries the permanent
# deletion of a version, so deleting a call must delete every version in
# both buckets (the instance role may).
#
# The role S3 assumes reads this bucket's versions and decrypts them with
# this bucket's key (through S3 in this region only), writes the replicas and
# encrypts them with the replica's key (through S3 in the replica's region
# only). With a bucket key the encryption context is the bucket's ARN,
# without one the object's: both are allowed.

locals {
  replication = var.replication == null ? [] : [var.replication]
}

data "aws_region" "current" {}

data "aws_iam_policy_document" "replication_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "replication" {
  count              = length(local.replication)
  name               = substr("${var.bucket_name}-replication", 0, 64)
  assume_role_policy = data.aws_iam_policy_document.replication_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "replication" {
  count = length(local.replication)

  statement {
    sid       = "SourceBucket"
    actions   = ["s3:GetReplicationConfiguration", "s3:ListBucket"]
    resources = [aws_s3_bucket.recordings.arn]
  }

  statement {
    sid       = "SourceVersions"
    actions   = ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging"]
    resources = ["${aws_s3_bucket.recordings.arn}/${var.prefix}recordings/*"]
  }

  statement {
    sid       = "ReplicaVersions"
    actions   = ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"]
    resources = ["${local.replication[0].bucket_arn}/${var.prefix}recordings/*"]
  }

  statement {
    sid       = "SourceKey"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.recordings.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${data.aws_region.current.id}.amazonaws.com"]
    }
    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:s3:arn"
      values   = [aws_s3_bucket.recordings.arn, "${aws_s3_bucket.recordings.arn}/*"]
    }
  }

  statement {
    sid       = "ReplicaKey"
    actions   = ["kms:Encrypt", "kms:GenerateDataKey"]
    resources = [local.replication[0].kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${local.replication[0].region}.amazonaws.com"]
    }
    condition {
      test     = "StringLike"
      variable = "kms:EncryptionContext:aws:s3:arn"
      values   = [local.replication[0].bucket_arn, "${local.replication[0].bucket_arn}/*"]
    }
  }
}

resource "aws_iam_role_policy" "replication" {
  count  = length(local.replication)
  name   = "replication"
  role   = aws_iam_role.replication[0].id
  policy = data.aws_iam_policy_document.replication[0].json
}

resource "aws_s3_bucket_replication_configuration" "recordings" {
  count = length(local.replication)
  # Through the versioning resource: replication needs versioning first.
  bucket = aws_s3_bucket_versioning.recordings.bucket
  role   = aws_iam_role.replication[0].arn

  rule {
    id       = "recordings"
    status   = "Enabled"
    priority = 1
    filter {
      prefix = "${var.prefix}recordings/"
    }

    # A call deleted without naming versions leaves a delete marker; it
    # hides the recording in the replica too.
    delete_marker_replication {
      status = "Enabled"
    }

    source_selection_criteria {
      sse_kms_encrypted_objects {
        status = "Enabled"
      }
    }

    destination {
      bucket        = local.replication[0].bucket_arn
      storage_class = "STANDARD"
      encryption_configuration {
        replica_kms_key_id = local.replication[0].kms_key_arn
      }
    }
  }

  depends_on = [aws_iam_role_policy.replication]
}
