package ssmenv

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/google/go-cmp/cmp"
)

// mustClient is the real SDK client with static credentials, pointed at the
// fake. Retries are off so the error cases answer at once.
func mustClient(t *testing.T, endpoint string) *ssm.Client {
	t.Helper()
	return ssm.New(ssm.Options{
		Region:           "eu-west-1",
		BaseEndpoint:     aws.String(endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: 1,
	})
}

var prodParams = []fakeParam{
	{Name: "/switchboard/prod/DATABASE_URL", Type: "String", Value: "postgres://switchboard@db.internal:5432/switchboard?sslmode=verify-full"},
	{Name: "/switchboard/prod/TWILIO_AUTH_TOKEN", Type: "SecureString", Value: "twilio-secret"},
	{Name: "/switchboard/prod/API_TOKENS", Type: "StringList", Value: "tok-a,tok-b"},
	{Name: "/switchboard/prod/S3_BUCKET", Type: "String", Value: "switchboard-recordings"},
	{Name: "/switchboard/prod/openai/OPENAI_API_KEY", Type: "SecureString", Value: "sk-secret"},
	{Name: "/switchboard/staging/DATABASE_URL", Type: "String", Value: "postgres://staging"},
	{Name: "/switchboard/production/DATABASE_URL", Type: "String", Value: "postgres://sibling-path"},
}

func TestLoad(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		fake, url := mustFakeSSM(t, 2, prodParams...)
		got, err := Load(context.Background(), mustClient(t, url), "/switchboard/prod")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"DATABASE_URL":      "postgres://switchboard@db.internal:5432/switchboard?sslmode=verify-full",
			"TWILIO_AUTH_TOKEN": "twilio-secret",
			"API_TOKENS":        "tok-a,tok-b",
			"S3_BUCKET":         "switchboard-recordings",
			"OPENAI_API_KEY":    "sk-secret",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Load (-want +got):\n%s", diff)
		}
		wantReqs := []fakeRequest{
			{Path: "/switchboard/prod", Recursive: true, WithDecryption: true},
			{Path: "/switchboard/prod", Recursive: true, WithDecryption: true, NextToken: "page-2"},
			{Path: "/switchboard/prod", Recursive: true, WithDecryption: true, NextToken: "page-4"},
		}
		if diff := cmp.Diff(wantReqs, fake.recorded()); diff != "" {
			t.Errorf("requests (-want +got):\n%s", diff)
		}
	})

	t.Run("ErrAccessDenied", func(t *testing.T) {
		fake, url := mustFakeSSM(t, 10, prodParams...)
		fake.denyAll()
		_, err := Load(context.Background(), mustClient(t, url), "/switchboard/prod")
		if err == nil {
			t.Fatal("Load succeeded, want an access-denied error")
		}
		for _, want := range []string{"access denied", "/switchboard/prod", "ssm:GetParametersByPath", "AccessDeniedException"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	})

	t.Run("ErrInvalidName", func(t *testing.T) {
		_, url := mustFakeSSM(t, 10,
			fakeParam{Name: "/switchboard/prod/DATABASE_URL", Type: "String", Value: "x"},
			fakeParam{Name: "/switchboard/prod/database-url", Type: "String", Value: "y"},
		)
		_, err := Load(context.Background(), mustClient(t, url), "/switchboard/prod")
		if err == nil || !strings.Contains(err.Error(), `"database-url" is not a valid environment variable name`) {
			t.Fatalf("Load error = %v, want the invalid name reported", err)
		}
	})

	t.Run("ErrDuplicateName", func(t *testing.T) {
		_, url := mustFakeSSM(t, 10,
			fakeParam{Name: "/switchboard/prod/DATABASE_URL", Type: "String", Value: "x"},
			fakeParam{Name: "/switchboard/prod/old/DATABASE_URL", Type: "String", Value: "y"},
		)
		_, err := Load(context.Background(), mustClient(t, url), "/switchboard/prod")
		if err == nil || !strings.Contains(err.Error(), "both set DATABASE_URL") {
			t.Fatalf("Load error = %v, want the duplicate reported", err)
		}
	})

	t.Run("ErrEmptyPath", func(t *testing.T) {
		_, url := mustFakeSSM(t, 10, prodParams...)
		_, err := Load(context.Background(), mustClient(t, url), "/switchboard/prd")
		if err == nil || !strings.Contains(err.Error(), "no parameters under /switchboard/prd") {
			t.Fatalf("Load error = %v, want the empty path reported", err)
		}
	})

	t.Run("ErrRelativePath", func(t *testing.T) {
		fake, url := mustFakeSSM(t, 10, prodParams...)
		_, err := Load(context.Background(), mustClient(t, url), "switchboard/prod")
		if err == nil || !strings.Contains(err.Error(), "must start with /") {
			t.Fatalf("Load error = %v, want the path rejected", err)
		}
		if n := len(fake.recorded()); n != 0 {
			t.Errorf("%d requests sent for an invalid path, want 0", n)
		}
	})
}

func TestApply(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		_, url := mustFakeSSM(t, 3, prodParams...)
		env := map[string]string{
			PathVariable:  "/switchboard/prod",
			"S3_BUCKET":   "override-bucket",
			"LISTEN_ADDR": ":9090",
		}
		set, err := Apply(context.Background(), Map(env), func(context.Context) (Client, error) {
			return mustClient(t, url), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"API_TOKENS", "DATABASE_URL", "OPENAI_API_KEY", "TWILIO_AUTH_TOKEN"}, set); diff != "" {
			t.Errorf("names set (-want +got):\n%s", diff)
		}
		want := map[string]string{
			PathVariable:        "/switchboard/prod",
			"S3_BUCKET":         "override-bucket",
			"LISTEN_ADDR":       ":9090",
			"DATABASE_URL":      "postgres://switchboard@db.internal:5432/switchboard?sslmode=verify-full",
			"TWILIO_AUTH_TOKEN": "twilio-secret",
			"API_TOKENS":        "tok-a,tok-b",
			"OPENAI_API_KEY":    "sk-secret",
		}
		if diff := cmp.Diff(want, env); diff != "" {
			t.Errorf("environment (-want +got):\n%s", diff)
		}
	})

	t.Run("OKWithoutPath", func(t *testing.T) {
		env := map[string]string{"LISTEN_ADDR": ":9090"}
		set, err := Apply(context.Background(), Map(env), func(context.Context) (Client, error) {
			t.Error("client built although CONFIG_SSM_PATH is unset")
			return nil, errors.New("unexpected")
		})
		if err != nil || set != nil {
			t.Fatalf("Apply = %v, %v; want nothing done", set, err)
		}
		if diff := cmp.Diff(map[string]string{"LISTEN_ADDR": ":9090"}, env); diff != "" {
			t.Errorf("environment changed (-want +got):\n%s", diff)
		}
	})

	t.Run("ErrAccessDeniedSetsNothing", func(t *testing.T) {
		fake, url := mustFakeSSM(t, 3, prodParams...)
		fake.denyAll()
		env := map[string]string{PathVariable: "/switchboard/prod"}
		_, err := Apply(context.Background(), Map(env), func(context.Context) (Client, error) {
			return mustClient(t, url), nil
		})
		if err == nil || !strings.Contains(err.Error(), "/switchboard/prod") {
			t.Fatalf("Apply error = %v, want access denied naming the path", err)
		}
		if len(env) != 1 {
			t.Errorf("environment = %v, want only %s", env, PathVariable)
		}
	})
}

// TestApplyWithDefaultClient runs what cmd/switchboard runs at start-up:
// Apply over the environment map with NewClient, the default AWS config
// resolved from the process's variables.
func TestApplyWithDefaultClient(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		_, url := mustFakeSSM(t, 2, prodParams...)
		t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
		t.Setenv("AWS_REGION", "eu-west-1")
		t.Setenv("AWS_ENDPOINT_URL_SSM", url)
		t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
		t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
		environ := map[string]string{PathVariable: "/switchboard/prod", "S3_BUCKET": "from-unit-file"}
		set, err := Apply(context.Background(), Map(environ), NewClient)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"API_TOKENS", "DATABASE_URL", "OPENAI_API_KEY", "TWILIO_AUTH_TOKEN"}, set); diff != "" {
			t.Errorf("names set (-want +got):\n%s", diff)
		}
		if got := environ["TWILIO_AUTH_TOKEN"]; got != "twilio-secret" {
			t.Errorf("TWILIO_AUTH_TOKEN = %q, want the decrypted SecureString", got)
		}
		if got := environ["S3_BUCKET"]; got != "from-unit-file" {
			t.Errorf("S3_BUCKET = %q, want the value already in the environment", got)
		}
	})
}
