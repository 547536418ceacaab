data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

# Alarms notify an encrypted topic. The aws/sns managed key cannot be used by
# CloudWatch, so the topic gets its own key that CloudWatch may use.
data "aws_iam_policy_document" "topic_key" {
  statement {
    sid       = "Account"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchAlarms"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_kms_key" "topic" {
  description         = "${var.name} alarm notifications"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.topic_key.json
  tags                = var.tags
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = aws_kms_key.topic.arn
  tags              = var.tags
}
