package s3

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caarlos0/env/v11"

	"switchboard/storage/s3/s3test"
)

// credentialScope matches the region of a SigV4 credential scope, in an
// Authorization header (Credential=AKID/20260101/eu-west-1/s3/aws4_request)
// or a presigned URL's X-Amz-Credential.
var credentialScope = regexp.MustCompile(`AKIDTEST/\d{8}/([a-z0-9-]+)/s3/aws4_request`)

// signedRegions returns the region of every signed request the fake
// received, in order.
func signedRegions(t *testing.T, f *s3test.Server) []string {
	t.Helper()
	var regions []string
	for _, r := range f.Requests() {
		m := credentialScope.FindStringSubmatch(r.Header.Get("Authorization"))
		if m == nil {
			t.Errorf("%s %s: no SigV4 credential scope in %q", r.Op, r.Path, r.Header.Get("Authorization"))
			continue
		}
		regions = append(regions, m[1])
	}
	return regions
}

// TestRegion: a region-B instance (AWS_REGION=B, which SSM and the database's
// IAM tokens need) reaches a bucket in another region through S3_REGION: every
// request, and every presigned link, is signed for the bucket's region.
func TestRegion(t *testing.T) {
	exercise := func(t *testing.T, s *Store) string {
		t.Helper()
		ctx := context.Background()
		mustPut(t, s, "recordings/RE0123.wav", s3test.Bytes(3, 4096))
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if _, err := s.Stat(ctx, "recordings/RE0123.wav"); err != nil {
			t.Fatalf("Stat: %v", err)
		}
		if err := s.Delete(ctx, "recordings/RE0123.wav"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		link, err := s.PresignGet(ctx, "recordings/RE0123.wav", time.Minute)
		if err != nil {
			t.Fatalf("PresignGet: %v", err)
		}
		u, err := url.Parse(link)
		if err != nil {
			t.Fatal(err)
		}
		m := credentialScope.FindStringSubmatch(u.Query().Get("X-Amz-Credential"))
		if m == nil {
			t.Fatalf("presigned link without a credential scope: %s", link)
		}
		return m[1]
	}
	setup := func(t *testing.T) *s3test.Server {
		t.Helper()
		isolateAWSEnv(t)
		t.Setenv("AWS_REGION", "eu-central-1")
		t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
		return s3test.New(t)
	}

	t.Run("S3RegionSignsEveryRequest", func(t *testing.T) {
		f := setup(t)
		s, err := New(context.Background(), Config{Bucket: s3test.Bucket, Endpoint: f.URL, Region: "eu-west-1"})
		if err != nil {
			t.Fatal(err)
		}
		presigned := exercise(t, s)
		regions := signedRegions(t, f)
		if len(regions) < 4 {
			t.Fatalf("the fake saw %d signed requests, want at least put, head bucket, head object and delete", len(regions))
		}
		for i, r := range regions {
			if r != "eu-west-1" {
				t.Errorf("request %d signed for %s, want the bucket's region eu-west-1 (S3_REGION), not AWS_REGION", i, r)
			}
		}
		if presigned != "eu-west-1" {
			t.Errorf("presigned link signed for %s, want eu-west-1", presigned)
		}
	})

	t.Run("WithoutS3RegionAWSRegion", func(t *testing.T) {
		f := setup(t)
		s, err := New(context.Background(), Config{Bucket: s3test.Bucket, Endpoint: f.URL})
		if err != nil {
			t.Fatal(err)
		}
		presigned := exercise(t, s)
		for i, r := range signedRegions(t, f) {
			if r != "eu-central-1" {
				t.Errorf("request %d signed for %s, want AWS_REGION's eu-central-1", i, r)
			}
		}
		if presigned != "eu-central-1" {
			t.Errorf("presigned link signed for %s, want eu-central-1", presigned)
		}
	})

	t.Run("S3RegionAlone", func(t *testing.T) {
		isolateAWSEnv(t)
		t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
		if _, err := New(context.Background(), Config{Bucket: s3test.Bucket, Region: "eu-west-1"}); err != nil {
			t.Errorf("New with S3_REGION and no AWS_REGION: %v", err)
		}
	})
}

func TestRegionConfig(t *testing.T) {
	t.Run("FromEnvironment", func(t *testing.T) {
		var c Config
		if err := env.ParseWithOptions(&c, env.Options{Environment: map[string]string{"S3_BUCKET": "recordings", "S3_REGION": "eu-west-1"}}); err != nil {
			t.Fatal(err)
		}
		if c.Region != "eu-west-1" {
			t.Errorf("Region = %q, want eu-west-1 from S3_REGION", c.Region)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("Validate: %v", err)
		}
	})
	for _, region := range []string{"eu-west-1", "us-gov-west-1", "ap-southeast-2"} {
		t.Run("OK/"+region, func(t *testing.T) {
			if err := (Config{Bucket: "rec", Region: region}).Validate(); err != nil {
				t.Errorf("Validate(region %q): %v", region, err)
			}
		})
	}
	for _, region := range []string{"EU-WEST-1", "eu-west", "eu west 1", "https://s3.eu-west-1.amazonaws.com"} {
		t.Run("ErrInvalid/"+strings.ReplaceAll(region, "/", "_"), func(t *testing.T) {
			if err := (Config{Bucket: "rec", Region: region}).Validate(); err == nil || !strings.Contains(err.Error(), "S3_REGION") {
				t.Errorf("Validate(region %q) = %v, want an S3_REGION error", region, err)
			}
		})
	}
}
