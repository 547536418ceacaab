# The alarms, planned against a mocked provider.

mock_provider "aws" {
  source = "../../mocks/eu-central-1"
}

variables {
  name = "switchboard-test"
}

run "replica" {
  command = apply

  variables {
    replica = { identifier = "switchboard-test-replica" }
  }

  # RDS reports up to 300 s of lag when the source is idle: the alarm must
  # not page on quiet nights.
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.replica_lag[0].threshold > 300 &&
      aws_cloudwatch_metric_alarm.replica_lag[0].statistic == "Minimum" &&
      aws_cloudwatch_metric_alarm.replica_lag[0].period * aws_cloudwatch_metric_alarm.replica_lag[0].evaluation_periods >= 900
    )
    error_message = "The replica-lag alarm fires only on lag above 300 s that lasts 15 minutes."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.replica_lag[0].treat_missing_data == "breaching"
    error_message = "A replica that stops reporting lag is not replicating."
  }
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.db_cpu) == 0 && length(aws_cloudwatch_metric_alarm.elb_5xx) == 0
    error_message = "Only what is given is watched."
  }
  assert {
    condition     = aws_sns_topic.alarms.kms_master_key_id == aws_kms_key.topic.arn && aws_kms_key.topic.enable_key_rotation
    error_message = "The topic is encrypted with a rotating key CloudWatch may use."
  }
}

# After a promotion the example passes the same instance as a writer and no
# replica: no lag alarm is left in ALARM.
run "writer" {
  command = plan

  variables {
    database = { identifier = "switchboard-test-replica", max_connections = 400 }
    load_balancer = {
      arn_suffix              = "app/switchboard/0123456789abcdef"
      target_group_arn_suffix = "targetgroup/switchboard/0123456789abcdef"
    }
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.replica_lag) == 0
    error_message = "No replica, no lag alarm."
  }
  assert {
    condition = alltrue([for a in [aws_cloudwatch_metric_alarm.db_cpu[0], aws_cloudwatch_metric_alarm.db_free_storage[0], aws_cloudwatch_metric_alarm.db_connections[0]] :
      a.dimensions.DBInstanceIdentifier == "switchboard-test-replica"
    ])
    error_message = "The writer alarms watch the instance given."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.db_connections[0].threshold == 320
    error_message = "Connections alarm at 80 % of max_connections."
  }
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.unhealthy_hosts) == 1 && length(aws_cloudwatch_metric_alarm.target_5xx) == 1 && length(aws_cloudwatch_metric_alarm.response_time) == 1
    error_message = "The load balancer is watched."
  }
}

run "noisy_lag_threshold" {
  command = plan

  variables {
    replica             = { identifier = "switchboard-test-replica" }
    replica_lag_seconds = 60
  }

  expect_failures = [var.replica_lag_seconds]
}
