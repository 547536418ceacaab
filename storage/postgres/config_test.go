package postgres

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/jackc/pgx/v5"
)

func validConfig() Config {
	return Config{
		URL:            "postgres://app@db.internal:5432/switchboard?sslmode=verify-full",
		MaxConns:       10,
		ConnectTimeout: 3 * time.Second,
		QueryTimeout:   5 * time.Second,
	}
}

func TestValidate(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		if err := validConfig().Validate(); err != nil {
			t.Fatalf("Validate: %v", err)
		}
	})

	t.Run("ReportsEveryProblem", func(t *testing.T) {
		c := Config{
			MaxConns:         0,
			MinConns:         -1,
			WriteConcurrency: -1,
			ConnectTimeout:   0,
			QueryTimeout:     -time.Second,
			CAFile:           filepath.Join(t.TempDir(), "missing.pem"),
			IAMAuth:          true,
		}
		err := c.Validate()
		if err == nil {
			t.Fatal("Validate accepted an empty configuration")
		}
		for _, v := range []string{"DATABASE_URL", "DB_MAX_CONNS", "DB_MIN_CONNS", "DB_WRITE_CONCURRENCY", "DB_CONNECT_TIMEOUT", "DB_QUERY_TIMEOUT", "DB_CA_FILE", "AWS_REGION"} {
			if !strings.Contains(err.Error(), v) {
				t.Errorf("Validate error does not name %s:\n%v", v, err)
			}
		}
	})

	t.Run("CAFileNeedsVerifyFull", func(t *testing.T) {
		c := validConfig()
		c.URL = "postgres://app@db.internal/switchboard?sslmode=require"
		c.CAFile = writePEM(t)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "sslmode=verify-full") {
			t.Fatalf("Validate = %v, want a complaint about sslmode", err)
		}
		c.URL = "host=db.internal user=app sslmode=verify-full"
		if err := c.Validate(); err != nil {
			t.Fatalf("Validate with a keyword/value DSN: %v", err)
		}
	})

	t.Run("CAFileWithoutCertificate", func(t *testing.T) {
		c := validConfig()
		c.CAFile = filepath.Join(t.TempDir(), "empty.pem")
		if err := os.WriteFile(c.CAFile, []byte("not a certificate"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "DB_CA_FILE") {
			t.Fatalf("Validate = %v, want DB_CA_FILE rejected", err)
		}
	})

	t.Run("IAMNeedsRegionAndTLS", func(t *testing.T) {
		c := validConfig()
		c.URL = "postgres://app@db.internal/switchboard?sslmode=disable"
		c.IAMAuth = true
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "AWS_REGION") || !strings.Contains(err.Error(), "sslmode=verify-full") {
			t.Fatalf("Validate = %v, want both the region and sslmode named", err)
		}
		c.URL, c.Region = validConfig().URL, "eu-west-1"
		if err := c.Validate(); err != nil {
			t.Fatalf("Validate: %v", err)
		}
	})

	t.Run("PasswordNotInError", func(t *testing.T) {
		c := validConfig()
		c.URL = "postgres://app:s3cr3t-pw@db.internal:notaport/switchboard"
		err := c.Validate()
		if err == nil {
			t.Fatal("Validate accepted a bad port")
		}
		if strings.Contains(err.Error(), "s3cr3t-pw") {
			t.Fatalf("Validate error leaks the password: %v", err)
		}
	})
}

func writePEM(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, NewTestCA(t).CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestIAMBeforeConnect(t *testing.T) {
	t.Run("SetsFreshTokenAsPassword", func(t *testing.T) {
		creds := credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")
		hook := iamBeforeConnect("eu-west-1", creds)
		for _, host := range []string{"db-a.abc.eu-west-1.rds.amazonaws.com", "db-b.abc.eu-west-1.rds.amazonaws.com"} {
			cc, err := pgx.ParseConfig("postgres://app@" + host + ":5432/switchboard?sslmode=verify-full")
			if err != nil {
				t.Fatal(err)
			}
			if err := hook(context.Background(), cc); err != nil {
				t.Fatalf("hook: %v", err)
			}
			for _, want := range []string{host + ":5432?", "Action=connect", "DBUser=app", "X-Amz-Credential=AKIDEXAMPLE%2F", "%2Feu-west-1%2Frds-db%2F", "X-Amz-Signature="} {
				if !strings.Contains(cc.Password, want) {
					t.Errorf("token for %s = %q, want it to contain %q", host, cc.Password, want)
				}
			}
		}
	})

	t.Run("CredentialErrorFailsConnect", func(t *testing.T) {
		hook := iamBeforeConnect("eu-west-1", failingCreds{})
		cc, err := pgx.ParseConfig("postgres://app@db.internal/switchboard")
		if err != nil {
			t.Fatal(err)
		}
		if err := hook(context.Background(), cc); err == nil {
			t.Fatal("hook succeeded without credentials")
		}
	})
}

type failingCreds struct{}

func (failingCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{}, errors.New("no credentials in this test")
}

func TestRedactedURL(t *testing.T) {
	for _, tt := range []struct{ name, url string }{
		{"URLUserinfo", "postgres://app:s3cr3t@db.internal:5432/switchboard?sslmode=verify-full"},
		{"URLQuery", "postgres://app@db.internal/switchboard?password=s3cr3t"},
		{"KeywordValue", "host=db.internal user=app password=s3cr3t dbname=switchboard"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Config{URL: tt.url}.RedactedURL()
			if strings.Contains(got, "s3cr3t") || !strings.Contains(got, "db.internal") {
				t.Fatalf("RedactedURL(%q) = %q, want the host without the password", tt.url, got)
			}
		})
	}
}
