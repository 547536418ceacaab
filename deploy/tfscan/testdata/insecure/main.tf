# A deliberately insecure configuration: deploy/verify.sh expects tfscan to
# fail on it, so a scanner that finds nothing cannot pass unnoticed.
resource "aws_s3_bucket" "open" {
  bucket = "tfscan-self-test"
}

resource "aws_s3_bucket_public_access_block" "open" {
  bucket              = aws_s3_bucket.open.id
  block_public_acls   = false
  block_public_policy = false
}
