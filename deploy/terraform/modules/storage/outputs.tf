output "bucket_name" {
  value       = aws_s3_bucket.recordings.id
  description = "S3_BUCKET."
}

output "bucket_arn" {
  value       = aws_s3_bucket.recordings.arn
  description = "For the instance role."
}

output "kms_key_arn" {
  value       = aws_kms_key.recordings.arn
  description = "S3_KMS_KEY_ID, and for the instance role."
}

output "prefix" {
  value       = var.prefix
  description = "S3_PREFIX."
}
