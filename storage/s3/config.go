package s3

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"switchboard/storage"
)

// Bounds on the settings. S3 refuses parts under 5 MiB (except the last)
// and over 5 GiB; presigned links outlive the instance role's credentials
// if made longer than a few hours, and become useless if shorter than a
// second.
const (
	MinPartSize    = 5 << 20
	MaxPartSize    = 5 << 30
	MinURLTTL      = time.Second
	MaxURLTTL      = 12 * time.Hour
	MaxConcurrency = 64
	// MaxPrefixLen keeps prefix + key within S3's 1024-byte key limit.
	MaxPrefixLen = 1024 - storage.MaxKeyLen
)

// Config is the blob store's configuration, read from the environment with
// caarlos0/env. Credentials are not here: they come from the default
// credential chain.
type Config struct {
	// Bucket holds the recordings; setting it is what selects S3.
	Bucket string `env:"S3_BUCKET"`
	// Region is the bucket's region. Empty uses the AWS configuration's
	// (AWS_REGION), which is the instance's own and must stay so for SSM
	// and the database's IAM tokens: a bucket in another region needs
	// this, since the SDK does not follow S3's region redirects.
	Region string `env:"S3_REGION"`
	// Prefix is prepended verbatim to every key ("prod/" → "prod/recordings/…").
	Prefix string `env:"S3_PREFIX"`
	// Endpoint points the client at an S3-compatible server; it implies
	// path-style addressing, which such servers expect.
	Endpoint string `env:"S3_ENDPOINT"`
	// KMSKeyID selects SSE-KMS with that key; empty means SSE-S3 (AES256).
	KMSKeyID string `env:"S3_KMS_KEY_ID"`
	// ReplicaBucket is the bucket S3 replication copies Bucket's recordings
	// to (in the other region), with the same prefix and keys. Replication
	// never carries a version's deletion, so deleting a call erases its
	// audio there too, in the background (storage.ErasureQueue); empty
	// means there is no replica and nothing of that runs.
	ReplicaBucket string `env:"S3_REPLICA_BUCKET"`
	// ReplicaRegion is ReplicaBucket's region, required with it.
	ReplicaRegion string `env:"S3_REPLICA_REGION"`
	// URLTTL is how long presigned playback links live.
	URLTTL time.Duration `env:"RECORDING_URL_TTL" envDefault:"5m"`
	// PartSize is the multipart part size and the single-upload threshold.
	PartSize int64 `env:"S3_PART_SIZE" envDefault:"8388608"`
	// Concurrency is how many parts upload at once; with PartSize it bounds
	// an upload's memory.
	Concurrency int `env:"S3_UPLOAD_CONCURRENCY" envDefault:"2"`
	// PingTTL is how long Ping's answer is reused, so frequent readiness
	// probes cost one HeadBucket per interval. Zero means DefaultPingTTL.
	PingTTL time.Duration
}

// Defaults for a Config built in code rather than parsed from the environment.
const (
	DefaultURLTTL      = 5 * time.Minute
	DefaultPartSize    = 8 << 20
	DefaultConcurrency = 2
	DefaultPingTTL     = 5 * time.Second
)

// withDefaults fills the zero values a Config built in code may leave, so
// tests and callers need not repeat the environment defaults.
func (c Config) withDefaults() Config {
	if c.URLTTL == 0 {
		c.URLTTL = DefaultURLTTL
	}
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.PingTTL == 0 {
		c.PingTTL = DefaultPingTTL
	}
	return c
}

// Validate reports every problem at once, each naming its variable, so an
// operator fixes the environment in one pass. Zero values that have a
// default are accepted.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if msg := bucketProblem(c.Bucket); msg != "" {
		bad("S3_BUCKET %s", msg)
	}
	if c.Region != "" && !regionName.MatchString(c.Region) {
		bad("S3_REGION must be an AWS region name like eu-west-1, got %q", c.Region)
	}
	if c.Prefix != "" {
		if len(c.Prefix) > MaxPrefixLen {
			bad("S3_PREFIX must be at most %d bytes", MaxPrefixLen)
		} else if storage.CheckKey(strings.TrimSuffix(c.Prefix, "/")) != nil {
			bad("S3_PREFIX must be slash-separated segments of [A-Za-z0-9._-], without '.', '..' or empty segments")
		}
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("S3_ENDPOINT must be an http or https URL, like https://minio.internal:9000")
		}
	}
	switch {
	case c.ReplicaBucket != "":
		if msg := bucketProblem(c.ReplicaBucket); msg != "" {
			bad("S3_REPLICA_BUCKET %s", msg)
		} else if c.ReplicaBucket == c.Bucket {
			bad("S3_REPLICA_BUCKET must name another bucket than S3_BUCKET (the one recordings are replicated to)")
		}
		if c.ReplicaRegion == "" {
			bad("S3_REPLICA_REGION is required with S3_REPLICA_BUCKET (the replica is in another region than the instance's)")
		} else if !regionName.MatchString(c.ReplicaRegion) {
			bad("S3_REPLICA_REGION must be an AWS region name like eu-west-1, got %q", c.ReplicaRegion)
		}
	case c.ReplicaRegion != "":
		bad("S3_REPLICA_REGION is set without S3_REPLICA_BUCKET")
	}
	if c.KMSKeyID != "" && strings.ContainsAny(c.KMSKeyID, " \t\r\n") {
		bad("S3_KMS_KEY_ID must not contain whitespace")
	}
	if c.URLTTL < MinURLTTL || c.URLTTL > MaxURLTTL {
		bad("RECORDING_URL_TTL must be between %s and %s, got %s", MinURLTTL, MaxURLTTL, c.URLTTL)
	}
	if c.PartSize < MinPartSize || c.PartSize > MaxPartSize {
		bad("S3_PART_SIZE must be between %d (5 MiB) and %d (5 GiB) bytes, got %d", MinPartSize, MaxPartSize, c.PartSize)
	}
	if c.Concurrency < 1 || c.Concurrency > MaxConcurrency {
		bad("S3_UPLOAD_CONCURRENCY must be between 1 and %d, got %d", MaxConcurrency, c.Concurrency)
	}
	if c.PingTTL < 0 {
		bad("the ping cache interval must not be negative")
	}
	return errors.Join(errs...)
}

// Replica is the configuration of a Store on the replica bucket: the same
// prefix (so the same keys), endpoint and transfer settings, on
// ReplicaBucket in ReplicaRegion. That store only deletes (replication
// writes the replica's objects, encrypted with the replica's own key), so
// it has no KMS key. ok is false when no replica bucket is configured.
func (c Config) Replica() (replica Config, ok bool) {
	if c.ReplicaBucket == "" {
		return Config{}, false
	}
	c.Bucket, c.Region = c.ReplicaBucket, c.ReplicaRegion
	c.ReplicaBucket, c.ReplicaRegion, c.KMSKeyID = "", "", ""
	return c, true
}

// regionName is the shape of an AWS region name (eu-west-1, us-gov-west-1).
var regionName = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)

// bucketProblem checks the general-purpose bucket naming rules, returning
// what is wrong or "".
func bucketProblem(b string) string {
	if b == "" {
		return "is required"
	}
	if len(b) < 3 || len(b) > 63 {
		return "must be 3 to 63 characters"
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return "must contain only lowercase letters, digits, '-' and '.'"
		}
	}
	if !isAlnum(b[0]) || !isAlnum(b[len(b)-1]) {
		return "must begin and end with a letter or digit"
	}
	if strings.Contains(b, "..") {
		return "must not contain two adjacent periods"
	}
	return ""
}

func isAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }
