package s3

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"switchboard/storage/s3/s3test"
)

func TestReplicaConfig(t *testing.T) {
	t.Run("SameKeysInTheReplicaBucketAndRegion", func(t *testing.T) {
		c := Config{Bucket: "rec-a", Region: "eu-west-1", Prefix: "prod/", Endpoint: "http://127.0.0.1:9000",
			KMSKeyID: "arn:aws:kms:eu-west-1:111122223333:key/a", ReplicaBucket: "rec-b", ReplicaRegion: "eu-central-1",
			URLTTL: time.Minute, PartSize: 16 << 20, Concurrency: 3}
		got, ok := c.Replica()
		if !ok {
			t.Fatal("Replica() reports no replica although S3_REPLICA_BUCKET is set")
		}
		// No KMS key: the store only deletes there, and region A's key is
		// no use in region B.
		want := Config{Bucket: "rec-b", Region: "eu-central-1", Prefix: "prod/", Endpoint: "http://127.0.0.1:9000",
			URLTTL: time.Minute, PartSize: 16 << 20, Concurrency: 3}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Replica() (-want +got):\n%s", diff)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("the replica's config does not validate: %v", err)
		}
	})
	t.Run("NoneWithoutReplicaBucket", func(t *testing.T) {
		if c, ok := (Config{Bucket: "rec-a", Region: "eu-west-1"}).Replica(); ok {
			t.Errorf("Replica() = %+v, ok without S3_REPLICA_BUCKET", c)
		}
	})
}

// TestReplicaStore: a Store built from Config.Replica() on an instance in
// region A reaches the replica bucket in region B, signing for B, and its
// Delete erases every version and delete marker of the key there (the
// copies replication made, which a deletion in A never reaches), and
// nothing else, in either bucket.
func TestReplicaStore(t *testing.T) {
	isolateAWSEnv(t)
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	a, b := s3test.NewVersioned(t), s3test.NewReplica(t)
	ctx := context.Background()
	cfg := Config{Bucket: s3test.Bucket, Region: "eu-west-1", Prefix: "prod/", Endpoint: a.URL,
		ReplicaBucket: s3test.ReplicaBucket, ReplicaRegion: "eu-central-1"}
	primary, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := cfg.Replica()
	rc.Endpoint = b.URL // another region's S3 is another server here
	replica, err := New(ctx, rc)
	if err != nil {
		t.Fatal(err)
	}

	const key, other = "recordings/AC1/2026/11/30/CA1/RE1.wav", "recordings/AC1/2026/11/30/CA2/RE2.wav"
	mustPut(t, primary, key, s3test.Bytes(1, 100))
	mustPut(t, primary, key, s3test.Bytes(2, 100))
	for seed := range 3 {
		b.Replicate(t, "prod/"+key, s3test.Bytes(uint64(seed), 100))
	}
	b.Replicate(t, "prod/"+other, s3test.Bytes(9, 100))
	sentToA := len(a.Requests())

	if err := replica.Delete(ctx, key); err != nil {
		t.Fatalf("Delete in the replica: %v", err)
	}
	if vs := b.Versions(t, "prod/"+key); len(vs) != 0 {
		t.Errorf("the replica bucket still holds %v of %s", vs, key)
	}
	if vs := b.Versions(t, "prod/"+other); len(vs) != 1 {
		t.Errorf("the replica bucket holds %v of %s, want its one version", vs, other)
	}
	if vs := a.Versions(t, "prod/"+key); len(vs) != 2 {
		t.Errorf("the primary bucket holds %v of %s, want its 2 versions untouched", vs, key)
	}
	if n := len(a.Requests()); n != sentToA {
		t.Errorf("the replica's store sent %d requests to the primary's S3", n-sentToA)
	}
	for i, r := range signedRegions(t, b) {
		if r != "eu-central-1" {
			t.Errorf("request %d to the replica signed for %s, want S3_REPLICA_REGION's eu-central-1", i, r)
		}
	}
	for _, r := range b.Requests() {
		if r.Path != "/"+s3test.ReplicaBucket && !strings.HasPrefix(r.Path, "/"+s3test.ReplicaBucket+"/") {
			t.Errorf("request %s %s is not for the replica bucket", r.Op, r.Path)
		}
	}
}
