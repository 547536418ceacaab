package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"switchboard/runtime/service"
)

func TestRunRefusesRelayModeUnderLambda(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"serve"}, map[string]string{
		"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:1", "CALL_MODE": "relay",
	}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "CALL_MODE=relay cannot run under AWS Lambda") {
		t.Fatalf("relay mode under Lambda: %v", err)
	}
}

func TestConfigCommandPrintsTheWholeConfigurationMasked(t *testing.T) {
	var out, errOut bytes.Buffer
	const token = "0123456789abcdef0123456789abcdef"
	err := run(context.Background(), []string{"config"}, map[string]string{
		"CALL_MODE": "relay", "TWILIO_AUTH_TOKEN": token, "DATABASE_URL": "postgres://app:hunter2@db/switchboard",
	}, &out, &errOut)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	got := out.String()
	for _, want := range []string{"CALL_MODE=relay", "TWILIO_AUTH_TOKEN=(set)", "HTTP_READ_TIMEOUT=20s", "RELAY_PING_INTERVAL=20s", "LOG_FORMAT=auto",
		"DATABASE_URL=postgres://app:xxxxx@db/switchboard"} {
		if !strings.Contains(got, "  "+want+"\n") {
			t.Errorf("config output lacks %s:\n%s", want, got)
		}
	}
	for _, secret := range []string{token, "hunter2"} {
		if strings.Contains(got+errOut.String(), secret) {
			t.Errorf("config output shows a secret %q", secret)
		}
	}
}

func TestStartPrintsOnlyChangedSettings(t *testing.T) {
	cfg, err := service.LoadConfig(map[string]string{"CALL_MODE": "relay", "TWILIO_AUTH_TOKEN": "tok", "ASSISTANT_TURN_TIMEOUT": "8s"})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	n := cfg.PrintChanged(&b)
	// ASSISTANT_TURN_TIMEOUT is set to its default: not a change.
	if want := "  TWILIO_AUTH_TOKEN=(set)\n  CALL_MODE=relay\n"; b.String() != want || n != 2 {
		t.Errorf("PrintChanged = %d lines %q, want %q", n, b.String(), want)
	}
	b.Reset()
	if n := service.Defaults().PrintChanged(&b); n != 0 {
		t.Errorf("the defaults print %d changed settings: %s", n, b.String())
	}
}

func TestLogFormat(t *testing.T) {
	for format, check := range map[string]func(string) bool{
		"text": regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{3} INFO  incoming call  call_sid=CA1  note="two words"\n$`).MatchString,
		"json": func(s string) bool {
			var m map[string]any
			return json.Unmarshal([]byte(s), &m) == nil && m["msg"] == "incoming call"
		},
		// A buffer is not a terminal: machines get JSON.
		"auto": func(s string) bool { return strings.HasPrefix(s, "{") },
	} {
		t.Run(format, func(t *testing.T) {
			var b bytes.Buffer
			cfg := service.Defaults()
			cfg.LogFormat = format
			log := newLogger(cfg, &b)
			if format == "text" {
				log.With("call_sid", "CA1").Info("incoming call", "note", "two words")
				log.Debug("hidden at info level")
			} else {
				log.Info("incoming call", "call_sid", "CA1")
			}
			if !check(b.String()) {
				t.Errorf("LOG_FORMAT=%s wrote %q", format, b.String())
			}
		})
	}
	var b bytes.Buffer
	slog.New(newTextHandler(&b, slog.LevelInfo)).WithGroup("req").Info("x", "id", 7)
	if !strings.Contains(b.String(), "req.id=7") {
		t.Errorf("grouped attribute written as %q", b.String())
	}
}

// TestLogRedact: with REDACT=logs or all the process's logger redacts
// every line, in both formats; with off it writes what it is given.
func TestLogRedact(t *testing.T) {
	for _, c := range []struct {
		redact, format string
		clean          bool
	}{
		{"logs", "json", true}, {"all", "text", true}, {"all", "json", true}, {"off", "json", false},
	} {
		t.Run(c.redact+"/"+c.format, func(t *testing.T) {
			var b bytes.Buffer
			cfg := service.Defaults()
			cfg.Redact, cfg.LogFormat = c.redact, c.format
			newLogger(cfg, &b).Warn("assistant failed: caller said 4111 1111 1111 1111", "err", errors.New("echo jane@example.com"))
			leaked := strings.Contains(b.String(), "4111 1111") || strings.Contains(b.String(), "jane@example.com")
			if leaked == c.clean {
				t.Errorf("REDACT=%s LOG_FORMAT=%s wrote %q", c.redact, c.format, b.String())
			}
			if c.clean && (!strings.Contains(b.String(), "[card]") || !strings.Contains(b.String(), "[email]")) {
				t.Errorf("REDACT=%s LOG_FORMAT=%s wrote %q, without the kinds", c.redact, c.format, b.String())
			}
		})
	}
}
