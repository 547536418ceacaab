# A recordings bucket replicating to a replica in another region, against a
# mocked provider.

mock_provider "aws" {
  source = "../../mocks/eu-west-1"
}

variables {
  bucket_name = "switchboard-test-recordings"
  prefix      = "prod/"
  replication = {
    bucket_arn  = "arn:aws:s3:::switchboard-test-recordings-dr"
    kms_key_arn = "arn:aws:kms:eu-central-1:123456789012:key/11111111-1111-1111-1111-111111111111"
    region      = "eu-central-1"
  }
}

run "replicated" {
  command = apply

  assert {
    condition = (
      aws_s3_bucket_public_access_block.recordings.block_public_acls &&
      aws_s3_bucket_public_access_block.recordings.block_public_policy &&
      aws_s3_bucket_public_access_block.recordings.ignore_public_acls &&
      aws_s3_bucket_public_access_block.recordings.restrict_public_buckets
    )
    error_message = "Public access is fully blocked."
  }
  assert {
    condition     = aws_s3_bucket_ownership_controls.recordings.rule[0].object_ownership == "BucketOwnerEnforced"
    error_message = "ACLs are off."
  }
  assert {
    condition = anytrue([for r in aws_s3_bucket_server_side_encryption_configuration.recordings.rule :
      r.bucket_key_enabled && one(r.apply_server_side_encryption_by_default).sse_algorithm == "aws:kms" &&
      one(r.apply_server_side_encryption_by_default).kms_master_key_id == aws_kms_key.recordings.arn
    ])
    error_message = "Default encryption is SSE-KMS with the bucket's customer managed key and a bucket key."
  }
  assert {
    condition     = aws_kms_key.recordings.enable_key_rotation
    error_message = "The key rotates."
  }
  assert {
    condition     = aws_s3_bucket_versioning.recordings.versioning_configuration[0].status == "Enabled"
    error_message = "Versioning is on (replication needs it, and deletions stay recoverable)."
  }
  assert {
    condition = anytrue([for r in aws_s3_bucket_lifecycle_configuration.recordings.rule :
      r.status == "Enabled" && try(one(r.filter).prefix, "") == "prod/recordings/" &&
      anytrue([for t in r.transition : t.storage_class == "STANDARD_IA"]) &&
      try(one(r.noncurrent_version_expiration).noncurrent_days, 0) == 30
    ])
    error_message = "Recordings move to Standard-IA and their noncurrent versions expire."
  }
  assert {
    condition     = anytrue([for r in aws_s3_bucket_lifecycle_configuration.recordings.rule : length(r.abort_incomplete_multipart_upload) == 1])
    error_message = "Incomplete multipart uploads are aborted."
  }
  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.recordings.statement :
      s.effect == "Deny" && anytrue([for c in s.condition : c.test == "Bool" && c.variable == "aws:SecureTransport" && toset(c.values) == toset(["false"])])
    ])
    error_message = "The bucket policy denies requests without TLS."
  }

  # Replication of a versioned SSE-KMS bucket: the rule must ask for
  # KMS-encrypted objects and name the replica's key; the role needs both
  # keys, each through S3 in its own region.
  assert {
    condition = (
      one(aws_s3_bucket_replication_configuration.recordings[0].rule).status == "Enabled" &&
      one(one(aws_s3_bucket_replication_configuration.recordings[0].rule).filter).prefix == "prod/recordings/" &&
      one(one(one(aws_s3_bucket_replication_configuration.recordings[0].rule).source_selection_criteria).sse_kms_encrypted_objects).status == "Enabled" &&
      one(one(aws_s3_bucket_replication_configuration.recordings[0].rule).destination).bucket == var.replication.bucket_arn &&
      one(one(one(aws_s3_bucket_replication_configuration.recordings[0].rule).destination).encryption_configuration).replica_kms_key_id == var.replication.kms_key_arn
    )
    error_message = "Recordings replicate, KMS-encrypted objects included, re-encrypted with the replica's key."
  }
  assert {
    condition     = one(one(aws_s3_bucket_replication_configuration.recordings[0].rule).delete_marker_replication).status == "Enabled"
    error_message = "Delete markers replicate, so a deleted recording is hidden in both buckets."
  }
  assert {
    condition     = aws_s3_bucket_replication_configuration.recordings[0].bucket == aws_s3_bucket_versioning.recordings.bucket
    error_message = "Replication is configured after versioning."
  }
  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.replication[0].statement :
      contains(s.actions, "kms:Decrypt") && toset(s.resources) == toset([aws_kms_key.recordings.arn]) &&
      anytrue([for c in s.condition : c.variable == "kms:ViaService" && toset(c.values) == toset(["s3.eu-west-1.amazonaws.com"])])
    ])
    error_message = "The replication role decrypts with the source key, through S3 in the source region only."
  }
  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.replication[0].statement :
      contains(s.actions, "kms:Encrypt") && toset(s.resources) == toset([var.replication.kms_key_arn]) &&
      anytrue([for c in s.condition : c.variable == "kms:ViaService" && toset(c.values) == toset(["s3.eu-central-1.amazonaws.com"])])
    ])
    error_message = "The replication role encrypts with the replica's key, through S3 in the replica's region only."
  }
  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.replication[0].statement :
      toset(s.actions) == toset(["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"]) &&
      toset(s.resources) == toset(["${var.replication.bucket_arn}/prod/recordings/*"])
    ])
    error_message = "The role writes replicas under the replica's recordings prefix only."
  }
  assert {
    condition     = output.bucket_name == var.bucket_name
    error_message = "S3_BUCKET is the bucket's name."
  }
}

# The replica bucket itself replicates nowhere.
run "replica" {
  command = plan

  variables {
    bucket_name = "switchboard-test-recordings-dr"
    replication = null
  }

  assert {
    condition     = length(aws_s3_bucket_replication_configuration.recordings) == 0 && length(aws_iam_role.replication) == 0
    error_message = "No replication from the replica."
  }
  assert {
    condition     = aws_s3_bucket_versioning.recordings.versioning_configuration[0].status == "Enabled"
    error_message = "A replication destination must be versioned."
  }
}

run "bad_prefix" {
  command = plan

  variables {
    prefix = "prod"
  }

  expect_failures = [var.prefix]
}

# Without RETENTION_DAYS nothing expires recordings.
run "no_retention_backstop" {
  command = plan

  assert {
    condition     = !anytrue([for r in aws_s3_bucket_lifecycle_configuration.recordings.rule : r.id == "retention-backstop"])
    error_message = "Without retention_days no rule expires current versions."
  }
}

# With RETENTION_DAYS=30 the backstop expires what the service missed a
# week later, and its noncurrent versions a week after that.
run "retention_backstop" {
  command = plan

  variables {
    retention_days = 30
  }

  assert {
    condition = anytrue([for r in aws_s3_bucket_lifecycle_configuration.recordings.rule :
      r.id == "retention-backstop" && r.status == "Enabled" && try(one(r.filter).prefix, "") == "prod/recordings/" &&
      try(one(r.expiration).days, 0) == 37 && try(one(r.noncurrent_version_expiration).noncurrent_days, 0) == 7
    ])
    error_message = "The backstop expires recordings retention_days + retention_backstop_days old, and their noncurrent versions retention_backstop_days later."
  }
  assert {
    condition = anytrue([for r in aws_s3_bucket_lifecycle_configuration.recordings.rule :
      r.id == "recordings" ? try(one(r.expiration).expired_object_delete_marker == true, false) : false
    ])
    error_message = "Expired delete markers are still removed, by the main rule."
  }
}

run "bad_retention" {
  command = plan

  variables {
    retention_days          = -1
    retention_backstop_days = 0
  }

  expect_failures = [var.retention_days, var.retention_backstop_days]
}
