package service

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"switchboard/storage"
	"switchboard/storage/localfs"
	"switchboard/storage/s3/s3test"
)

// TestReplicaWiring: the settings Terraform writes into a region's
// Parameter Store (S3_BUCKET and S3_REGION, S3_REPLICA_BUCKET and
// S3_REPLICA_REGION) give the service a second S3 store on the replica
// bucket, signed for its region; a call deleted through the API records the
// erasure, and the workers erase its audio there. Without
// S3_REPLICA_BUCKET there is no such store and nothing is recorded.
func TestReplicaWiring(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret",
		"AWS_DEFAULT_REGION": "", "AWS_PROFILE": "", "AWS_SESSION_TOKEN": "",
		"AWS_CONFIG_FILE": empty, "AWS_SHARED_CREDENTIALS_FILE": empty, "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	// One S3-compatible endpoint (S3_ENDPOINT) serves both buckets here.
	f := s3test.NewVersioned(t)
	if _, err := f.Client(0).CreateBucket(t.Context(), &s3api.CreateBucketInput{Bucket: aws.String(s3test.ReplicaBucket)}); err != nil {
		t.Fatal(err)
	}
	start := func(t *testing.T, extra map[string]string) *Service {
		t.Helper()
		env := map[string]string{
			"DATA_DIR": t.TempDir(), "S3_BUCKET": s3test.Bucket, "S3_ENDPOINT": f.URL, "S3_PREFIX": "prod/",
			"TWILIO_API_BASE_URL": "http://127.0.0.1:1", "WORKERS": "1",
		}
		for k, v := range extra {
			env[k] = v
		}
		cfg, err := LoadConfig(env)
		if err != nil {
			t.Fatal(err)
		}
		m, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), Overrides{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(m.Close)
		return m
	}
	const sid, account, rsid = "CA0123456789abcdef0123456789abcdef", "AC0123456789abcdef0123456789abcdef", "RE0123456789abcdef0123456789abcdef"
	deleteCall := func(t *testing.T, m *Service) string {
		t.Helper()
		ctx := t.Context()
		if _, _, err := m.Calls.StartCall(ctx, storage.NewCall{SID: sid, AccountSID: account}, storage.Turn{}); err != nil {
			t.Fatal(err)
		}
		rec, _, err := m.Calls.AddRecording(ctx, storage.Recording{SID: rsid, CallSID: sid, AccountSID: account})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Calls.ApplyStatus(ctx, storage.NewCall{SID: sid}, storage.StatusEvent{Status: storage.StatusCompleted, Sequence: -1}); err != nil {
			t.Fatal(err)
		}
		resp, err := m.App.Test(httptest.NewRequest("DELETE", "/api/v1/calls/"+sid, nil), 10_000)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 204 {
			t.Fatalf("DELETE = %d, want 204", resp.StatusCode)
		}
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		m.Workers.Drain(ctx)
		return "prod/" + rec.ArchiveKey()
	}
	// signedFor returns the region each request for key in bucket was
	// signed for.
	scope := regexp.MustCompile(`Credential=AKIDTEST/\d{8}/([a-z0-9-]+)/s3/`)
	signedFor := func(bucket, key string) []string {
		var regions []string
		for _, r := range f.Requests() {
			if r.Op == "DeleteObject" && r.Path == "/"+bucket+"/"+key {
				m := scope.FindStringSubmatch(r.Header.Get("Authorization"))
				if m == nil {
					regions = append(regions, "unsigned")
					continue
				}
				regions = append(regions, m[1])
			}
		}
		return regions
	}

	t.Run("ErasesInTheReplicaRegion", func(t *testing.T) {
		m := start(t, map[string]string{"S3_REPLICA_BUCKET": s3test.ReplicaBucket, "S3_REPLICA_REGION": "eu-central-1"})
		if m.Replica == nil {
			t.Fatal("no replica store with S3_REPLICA_BUCKET set")
		}
		key := deleteCall(t, m)
		// The workers delete the audio from the purge the DELETE recorded.
		if got := signedFor(s3test.Bucket, key); strings.Join(got, ",") != "eu-west-1" {
			t.Errorf("the primary's deletions were signed for %v, want AWS_REGION's eu-west-1 once", got)
		}
		if got := signedFor(s3test.ReplicaBucket, key); strings.Join(got, ",") != "eu-central-1" {
			t.Errorf("the replica's erasure was signed for %v, want S3_REPLICA_REGION's eu-central-1 once", got)
		}
		if b, err := m.Calls.ErasureBacklog(t.Context()); err != nil || b.Pending != 1 {
			t.Errorf("backlog %+v, %v; want the second pass pending", b, err)
		}
	})

	t.Run("RetentionErasesInBothRegions", func(t *testing.T) {
		// RETENTION_DAYS wires the workers to expire old calls: the audio
		// goes from the primary bucket and, signed for its own region,
		// from the replica.
		m := start(t, map[string]string{"S3_REPLICA_BUCKET": s3test.ReplicaBucket, "S3_REPLICA_REGION": "eu-central-1", "RETENTION_DAYS": "30"})
		const oldSID, oldRec = "CA00000000000000000000000000000abc", "RE00000000000000000000000000000abc"
		ctx := t.Context()
		at := time.Now().Add(-31 * 24 * time.Hour)
		if _, _, err := m.Calls.StartCall(ctx, storage.NewCall{SID: oldSID, AccountSID: account, At: at}, storage.Turn{}); err != nil {
			t.Fatal(err)
		}
		rec, _, err := m.Calls.AddRecording(ctx, storage.Recording{SID: oldRec, CallSID: oldSID, AccountSID: account, StartedAt: &at})
		if err != nil {
			t.Fatal(err)
		}
		key := "prod/" + rec.ArchiveKey()
		for _, bucket := range []string{s3test.Bucket, s3test.ReplicaBucket} {
			if _, err := f.Client(0).PutObject(ctx, &s3api.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("audio")}); err != nil {
				t.Fatal(err)
			}
		}
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		m.Workers.Drain(dctx)
		if _, err := m.Calls.GetCall(ctx, oldSID); err == nil {
			t.Error("the call older than RETENTION_DAYS is still there")
		}
		if got := signedFor(s3test.Bucket, key); len(got) == 0 || got[0] != "eu-west-1" {
			t.Errorf("the primary's deletions were signed for %v, want eu-west-1", got)
		}
		if got := signedFor(s3test.ReplicaBucket, key); strings.Join(got, ",") != "eu-central-1" {
			t.Errorf("the replica's erasure was signed for %v, want eu-central-1 once", got)
		}
		for _, bucket := range []string{s3test.Bucket, s3test.ReplicaBucket} {
			out, err := f.Client(0).ListObjectVersions(ctx, &s3api.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(key)})
			if err != nil {
				t.Fatal(err)
			}
			if n := len(out.Versions) + len(out.DeleteMarkers); n != 0 {
				t.Errorf("%d versions of the expired call's audio left in %s", n, bucket)
			}
		}
	})

	t.Run("OverrideNeedsTheBucketNames", func(t *testing.T) {
		// Erasures name their bucket, so a replica store given in code
		// must still be named by the configuration.
		cfg := Defaults()
		cfg.DataDir = t.TempDir()
		_, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), Overrides{Replica: localBlobs(t)})
		if err == nil || !strings.Contains(err.Error(), "S3_REPLICA_BUCKET") {
			t.Errorf("New with a replica store and no S3_REPLICA_BUCKET = %v, want an error naming it", err)
		}
	})

	t.Run("NothingWithoutReplicaBucket", func(t *testing.T) {
		before := len(f.Requests())
		m := start(t, nil)
		if m.Replica != nil {
			t.Fatal("a replica store without S3_REPLICA_BUCKET")
		}
		deleteCall(t, m)
		for _, r := range f.Requests()[before:] {
			if strings.HasPrefix(r.Path, "/"+s3test.ReplicaBucket) {
				t.Errorf("request %s %s to the replica bucket without S3_REPLICA_BUCKET", r.Op, r.Path)
			}
		}
		if b, err := m.Calls.ErasureBacklog(t.Context()); err != nil || b != (storage.ErasureBacklog{}) {
			t.Errorf("backlog %+v, %v; want nothing recorded", b, err)
		}
	})
}

// localBlobs is a blob store on a directory of the test's.
func localBlobs(t *testing.T) storage.BlobStore {
	t.Helper()
	b, err := localfs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
