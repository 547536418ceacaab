package s3

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/google/go-cmp/cmp"

	"switchboard/storage/s3/s3test"
)

func TestConfigFromEnvironment(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		var c Config
		if err := env.ParseWithOptions(&c, env.Options{Environment: map[string]string{"S3_BUCKET": "recordings"}}); err != nil {
			t.Fatal(err)
		}
		want := Config{Bucket: "recordings", URLTTL: 5 * time.Minute, PartSize: 8 << 20, Concurrency: 2}
		if diff := cmp.Diff(want, c); diff != "" {
			t.Errorf("parsed config (-want +got):\n%s", diff)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("Validate: %v", err)
		}
	})
	t.Run("AllSet", func(t *testing.T) {
		var c Config
		err := env.ParseWithOptions(&c, env.Options{Environment: map[string]string{
			"S3_BUCKET": "recordings.example", "S3_PREFIX": "prod/", "S3_ENDPOINT": "http://127.0.0.1:9000",
			"S3_KMS_KEY_ID": "alias/recordings", "RECORDING_URL_TTL": "90s", "S3_PART_SIZE": "16777216",
			"S3_UPLOAD_CONCURRENCY": "4", "S3_REGION": "eu-west-1",
			"S3_REPLICA_BUCKET": "recordings-dr.example", "S3_REPLICA_REGION": "eu-central-1",
		}})
		if err != nil {
			t.Fatal(err)
		}
		want := Config{Bucket: "recordings.example", Region: "eu-west-1", Prefix: "prod/", Endpoint: "http://127.0.0.1:9000",
			KMSKeyID: "alias/recordings", ReplicaBucket: "recordings-dr.example", ReplicaRegion: "eu-central-1",
			URLTTL: 90 * time.Second, PartSize: 16 << 20, Concurrency: 4}
		if diff := cmp.Diff(want, c); diff != "" {
			t.Errorf("parsed config (-want +got):\n%s", diff)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("Validate: %v", err)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	t.Run("EveryProblemNamed", func(t *testing.T) {
		c := Config{Prefix: "../x", Endpoint: "minio:9000", KMSKeyID: "a key", URLTTL: 24 * time.Hour,
			PartSize: 1 << 20, Concurrency: 1000}
		err := c.Validate()
		if err == nil {
			t.Fatal("Validate accepted a config with every setting wrong")
		}
		for _, name := range []string{"S3_BUCKET", "S3_PREFIX", "S3_ENDPOINT", "S3_KMS_KEY_ID", "RECORDING_URL_TTL", "S3_PART_SIZE", "S3_UPLOAD_CONCURRENCY"} {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("Validate error does not name %s:\n%v", name, err)
			}
		}
	})
	replica := []struct {
		name, bucket, region, want string
	}{
		{"BucketWithoutRegion", "rec-dr", "", "S3_REPLICA_REGION is required"},
		{"RegionWithoutBucket", "", "eu-central-1", "S3_REPLICA_REGION is set without S3_REPLICA_BUCKET"},
		{"BadBucket", "Rec_DR", "eu-central-1", "S3_REPLICA_BUCKET must contain only"},
		{"SameBucket", "rec", "eu-central-1", "S3_REPLICA_BUCKET must name another bucket"},
		{"BadRegion", "rec-dr", "Frankfurt", "S3_REPLICA_REGION must be an AWS region name"},
	}
	for _, tc := range replica {
		t.Run("Replica/"+tc.name, func(t *testing.T) {
			err := (Config{Bucket: "rec", ReplicaBucket: tc.bucket, ReplicaRegion: tc.region}).Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate(replica %q in %q) = %v, want an error saying %q", tc.bucket, tc.region, err, tc.want)
			}
		})
	}
	t.Run("Replica/OK", func(t *testing.T) {
		if err := (Config{Bucket: "rec", Region: "eu-west-1", ReplicaBucket: "rec-dr", ReplicaRegion: "eu-central-1"}).Validate(); err != nil {
			t.Errorf("Validate: %v", err)
		}
	})
	for _, bucket := range []string{"ab", "Recordings", "-rec", "rec-", "re..c", "rec_1", strings.Repeat("a", 64)} {
		t.Run("BadBucket/"+bucket, func(t *testing.T) {
			if err := (Config{Bucket: bucket}).Validate(); err == nil || !strings.Contains(err.Error(), "S3_BUCKET") {
				t.Errorf("Validate(bucket %q) = %v, want an S3_BUCKET error", bucket, err)
			}
		})
	}
	for _, prefix := range []string{"", "prod/", "prod", "a/b-", "team.1/x_"} {
		t.Run("GoodPrefix/"+prefix, func(t *testing.T) {
			if err := (Config{Bucket: "rec", Prefix: prefix}).Validate(); err != nil {
				t.Errorf("Validate(prefix %q): %v", prefix, err)
			}
		})
	}
	for _, prefix := range []string{"/abs", "a//b", "./x", "a/../b", "sp ace/", strings.Repeat("p", MaxPrefixLen+1)} {
		t.Run("BadPrefix/"+prefix[:min(len(prefix), 10)], func(t *testing.T) {
			if err := (Config{Bucket: "rec", Prefix: prefix}).Validate(); err == nil || !strings.Contains(err.Error(), "S3_PREFIX") {
				t.Errorf("Validate(prefix %q) = %v, want an S3_PREFIX error", prefix, err)
			}
		})
	}
}

// isolateAWSEnv clears the AWS settings a developer's machine may have, so
// New sees only what the test sets.
func isolateAWSEnv(t *testing.T) {
	t.Helper()
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"} {
		t.Setenv(k, "")
	}
	t.Setenv("AWS_CONFIG_FILE", empty)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", empty)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

func TestNew(t *testing.T) {
	t.Run("EndpointFromConfigRoundTrips", func(t *testing.T) {
		isolateAWSEnv(t)
		t.Setenv("AWS_REGION", "eu-west-1")
		t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
		f := s3test.New(t)
		s, err := New(context.Background(), Config{Bucket: s3test.Bucket, Endpoint: f.URL})
		if err != nil {
			t.Fatal(err)
		}
		data := s3test.Bytes(12, 5000)
		mustPut(t, s, "via/new.wav", data)
		if !f.Exists(t, "via/new.wav") {
			t.Error("object not stored at the path-style endpoint")
		}
		if err := s.Ping(context.Background()); err != nil {
			t.Errorf("Ping: %v", err)
		}
	})
	t.Run("NoRegion/Error", func(t *testing.T) {
		isolateAWSEnv(t)
		_, err := New(context.Background(), Config{Bucket: s3test.Bucket})
		if err == nil || !strings.Contains(err.Error(), "AWS_REGION") {
			t.Errorf("New without a region = %v, want an error naming AWS_REGION", err)
		}
	})
	t.Run("InvalidConfig/Error", func(t *testing.T) {
		_, err := New(context.Background(), Config{})
		if err == nil || !strings.Contains(err.Error(), "S3_BUCKET") {
			t.Errorf("New with no bucket = %v, want an S3_BUCKET error", err)
		}
	})
}
