output "bucket_name" {
  # Through the versioning resource, so whatever uses the name waits until
  # versioning is on (a replication rule needs it on both buckets).
  value       = aws_s3_bucket_versioning.recordings.bucket
  description = "S3_BUCKET."
}

output "bucket_arn" {
  # The ARN, read after versioning is on (element 0): a replication rule
  # naming this bucket as its destination needs that.
  value       = element([aws_s3_bucket.recordings.arn, aws_s3_bucket_versioning.recordings.id], 0)
  description = "For the instance role and a replication rule."
}

output "kms_key_arn" {
  value       = aws_kms_key.recordings.arn
  description = "S3_KMS_KEY_ID, and for the instance role."
}

output "prefix" {
  value       = var.prefix
  description = "S3_PREFIX."
}
