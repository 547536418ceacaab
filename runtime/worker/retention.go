package worker

import "time"

// MaxRetentionDays bounds RETENTION_DAYS: a hundred years.
const MaxRetentionDays = 36500

var _ = time.Second
