package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRunRefusesBadConfig(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"serve"}, map[string]string{"SWITCHBOARD_ENV": "production"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "TWILIO_AUTH_TOKEN") {
		t.Fatalf("production without settings: %v", err)
	}
	if err := run(context.Background(), []string{"bogus"}, nil, &out, &errOut); err == nil {
		t.Fatal("unknown command accepted")
	}
	out.Reset()
	if err := run(context.Background(), []string{"version"}, nil, &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "switchboard ") {
		t.Fatalf("version: %q %v", out.String(), err)
	}
}
