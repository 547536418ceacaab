# The instance role's policy, planned against a mocked provider: every
# statement scoped to what the service uses, in both regions.

mock_provider "aws" {
  source = "../../mocks/eu-west-1"
}

variables {
  name                = "switchboard-test"
  regions             = ["eu-west-1", "eu-central-1"]
  bucket_arns         = ["arn:aws:s3:::recordings-a", "arn:aws:s3:::recordings-b"]
  bucket_kms_key_arns = ["arn:aws:kms:eu-west-1:123456789012:key/a", "arn:aws:kms:eu-central-1:123456789012:key/b"]
  s3_prefix           = "prod/"
  config_ssm_path     = "/switchboard/test"
  db_resource_ids     = { "eu-west-1" = "db-AAAA", "eu-central-1" = "db-BBBB" }
}

run "policy" {
  command = plan

  assert {
    condition = alltrue(flatten([for s in data.aws_iam_policy_document.instance.statement : [
      for a in s.actions : a != "*" && !endswith(a, ":*")
    ]]))
    error_message = "No wildcard actions."
  }
  # Actions that support no resource-level permissions have "*" as their
  # only possible resource; no other action may.
  assert {
    condition = alltrue([for s in data.aws_iam_policy_document.instance.statement :
      !contains(s.resources, "*") || alltrue([for a in s.actions : contains([
        "cloudwatch:PutMetricData", "ec2:DescribeTags", "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
      ], a)])
    ])
    error_message = "Only actions without resource-level permissions may have \"*\" as their resource."
  }
  assert {
    condition = alltrue(flatten([for s in data.aws_iam_policy_document.instance.statement : [
      for r in s.resources : endswith(r, "/prod/recordings/*") if anytrue([for a in s.actions : startswith(a, "s3:") && strcontains(a, "Object")])
    ]]))
    error_message = "Object actions reach the recordings prefix only."
  }
  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.instance.statement :
      contains(s.actions, "s3:DeleteObjectVersion") &&
      toset(s.resources) == toset(["arn:aws:s3:::recordings-a/prod/recordings/*", "arn:aws:s3:::recordings-b/prod/recordings/*"])
    ])
    error_message = "Deleting a call deletes every version of its recording, in both buckets."
  }
  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.instance.statement :
      contains(s.actions, "s3:ListBucketVersions") && contains(s.actions, "s3:ListBucket") && toset(s.resources) == toset(var.bucket_arns)
    ])
    error_message = "The service may list the versions of a recording (and check the bucket) in both buckets."
  }
  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.instance.statement :
      contains(s.actions, "kms:GenerateDataKey") && toset(s.resources) == toset(var.bucket_kms_key_arns) &&
      anytrue([for c in s.condition : c.variable == "kms:ViaService" && toset(c.values) == toset(["s3.eu-west-1.amazonaws.com", "s3.eu-central-1.amazonaws.com"])])
    ])
    error_message = "The buckets' keys are usable through S3 only."
  }
  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.instance.statement :
      contains(s.actions, "rds-db:connect") && toset(s.resources) == toset([
        "arn:aws:rds-db:eu-west-1:123456789012:dbuser:db-AAAA/switchboard",
        "arn:aws:rds-db:eu-central-1:123456789012:dbuser:db-BBBB/switchboard",
      ])
    ])
    error_message = "The service connects as its own database user, in each region's database."
  }
  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.instance.statement :
      contains(s.actions, "ssm:GetParametersByPath") && alltrue([for r in s.resources : strcontains(r, ":parameter/switchboard/test")])
    ])
    error_message = "The service reads its own SSM path only."
  }
  assert {
    condition     = aws_iam_role.instance.max_session_duration == 3600
    error_message = "Instance credentials (and presigned URLs) are short-lived."
  }
}

run "bad_path" {
  command = plan

  variables {
    config_ssm_path = "switchboard/test/"
  }

  expect_failures = [var.config_ssm_path]
}
