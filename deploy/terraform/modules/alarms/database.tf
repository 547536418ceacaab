locals {
  db      = var.database == null ? [] : [var.database]
  replica = var.replica == null ? [] : [var.replica]
}

resource "aws_cloudwatch_metric_alarm" "db_cpu" {
  count               = length(local.db)
  alarm_name          = "${var.name}-db-cpu"
  alarm_description   = "The database is CPU bound."
  namespace           = "AWS/RDS"
  metric_name         = "CPUUtilization"
  dimensions          = { DBInstanceIdentifier = local.db[0].identifier }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = 80
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "db_free_storage" {
  count               = length(local.db)
  alarm_name          = "${var.name}-db-free-storage"
  alarm_description   = "Storage is running out (autoscaling at its ceiling?)."
  namespace           = "AWS/RDS"
  metric_name         = "FreeStorageSpace"
  dimensions          = { DBInstanceIdentifier = local.db[0].identifier }
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "LessThanThreshold"
  threshold           = var.free_storage_bytes
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "db_connections" {
  count               = length(local.db)
  alarm_name          = "${var.name}-db-connections"
  alarm_description   = "Connections near max_connections: too many instances × pool size."
  namespace           = "AWS/RDS"
  metric_name         = "DatabaseConnections"
  dimensions          = { DBInstanceIdentifier = local.db[0].identifier }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = floor(local.db[0].max_connections * 0.8)
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}

# RDS reports up to five minutes of ReplicaLag on a replica whose source
# writes nothing (quiet nights), so the threshold stays above that and the
# lag must last three five-minute periods. A replica that stops reporting is
# not replicating: missing data breaches. Once the replica is promoted there
# is no lag to watch; the example then drops this alarm (replica = null).
resource "aws_cloudwatch_metric_alarm" "replica_lag" {
  count               = length(local.replica)
  alarm_name          = "${var.name}-db-replica-lag"
  alarm_description   = "The replica lags its source: a failover now would lose this much data."
  namespace           = "AWS/RDS"
  metric_name         = "ReplicaLag"
  dimensions          = { DBInstanceIdentifier = local.replica[0].identifier }
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 3
  datapoints_to_alarm = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.replica_lag_seconds
  treat_missing_data  = "breaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
  tags                = var.tags
}
