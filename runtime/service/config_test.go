package service

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	t.Run("OKDefaults", func(t *testing.T) {
		c, err := LoadConfig(map[string]string{})
		if err != nil {
			t.Fatalf("defaults: %v", err)
		}
		if c.HTTP.ListenAddr != ":8080" || c.TwilioAPIBaseURL != "https://api.twilio.com" || c.Production() || !c.OutboundAllowPrivate {
			t.Errorf("defaults: %+v", c)
		}
	})
	t.Run("OKProductionRefusesPrivateTargets", func(t *testing.T) {
		c, err := LoadConfig(production(nil))
		if err != nil {
			t.Fatal(err)
		}
		if c.OutboundAllowPrivate {
			t.Error("production allows private outbound targets by default")
		}
		if c, err := LoadConfig(production(map[string]string{"OUTBOUND_ALLOW_PRIVATE": "false"})); err != nil || c.OutboundAllowPrivate {
			t.Errorf("OUTBOUND_ALLOW_PRIVATE=false: %v %v", c.OutboundAllowPrivate, err)
		}
	})
	cases := []struct {
		name  string
		env   map[string]string
		names []string
	}{
		{"ErrBadURL", map[string]string{"PUBLIC_BASE_URL": "ftp://x"}, []string{"PUBLIC_BASE_URL"}},
		{"ErrURLWithQuery", map[string]string{"PUBLIC_BASE_URL": "https://x.example.com/app?x=1"}, []string{"PUBLIC_BASE_URL"}},
		{"ErrURLWithCredentials", map[string]string{"PUBLIC_BASE_URL": "https://u:p@x.example.com"}, []string{"PUBLIC_BASE_URL"}},
		{"ErrLanguageWithoutRegion", map[string]string{"CALL_LANGUAGE": "en"}, []string{"CALL_LANGUAGE"}},
		{"ErrLanguageUnknown", map[string]string{"CALL_LANGUAGE": "xx-YY"}, []string{"CALL_LANGUAGE"}},
		{"ErrVoiceSpeaksAnotherLanguage", map[string]string{"CALL_LANGUAGE": "de-DE", "CALL_VOICE": "Polly.Joanna-Neural"}, []string{"CALL_VOICE"}},
		{"ErrGoogleVoiceSpeaksAnotherLanguage", map[string]string{"CALL_LANGUAGE": "fr-FR", "CALL_VOICE": "Google.es-ES-Neural2-A"}, []string{"CALL_VOICE"}},
		{"ErrProductionPlainTwilioAPI", production(map[string]string{"TWILIO_API_BASE_URL": "http://api.twilio.com"}), []string{"TWILIO_API_BASE_URL"}},
		{"ErrProductionTokenShape", production(map[string]string{"TWILIO_AUTH_TOKEN": "not-a-twilio-token"}), []string{"TWILIO_AUTH_TOKEN"}},
		{"ErrProductionNextTokenShape", production(map[string]string{"TWILIO_NEXT_AUTH_TOKEN": "0123"}), []string{"TWILIO_NEXT_AUTH_TOKEN"}},
		{"ErrNegativeSize", map[string]string{"WORKERS": "-1"}, []string{"WORKERS"}},
		{"ErrNegativeBody", map[string]string{"HTTP_BODY_LIMIT": "-5"}, []string{"HTTP_BODY_LIMIT"}},
		{"ErrUnknownEnv", map[string]string{"SWITCHBOARD_ENV": "staging"}, []string{"SWITCHBOARD_ENV"}},
		{"ErrNotADuration", map[string]string{"SHUTDOWN_TIMEOUT": "soon"}, []string{"SHUTDOWN_TIMEOUT"}},
		{"ErrTurnTimeoutTooLong", map[string]string{"ASSISTANT_TURN_TIMEOUT": "20s"}, []string{"ASSISTANT_TURN_TIMEOUT"}},
		{"ErrAccountSid", map[string]string{"TWILIO_ACCOUNT_SID": "AC12"}, []string{"TWILIO_ACCOUNT_SID"}},
		{"ErrShortAPIToken", map[string]string{"API_TOKENS": "short"}, []string{"API_TOKENS"}},
		{"ErrSeveralAtOnce", map[string]string{"PUBLIC_BASE_URL": "nope", "WORKERS": "-1", "LOG_LEVEL": "loud"},
			[]string{"PUBLIC_BASE_URL", "WORKERS", "LOG_LEVEL"}},
		{"ErrReplicaWithoutBucket", map[string]string{"S3_REPLICA_BUCKET": "recordings-dr", "S3_REPLICA_REGION": "eu-central-1"}, []string{"S3_REPLICA_BUCKET", "S3_BUCKET"}},
		{"ErrReplicaWithoutRegion", production(map[string]string{"S3_REPLICA_BUCKET": "recordings-dr"}), []string{"S3_REPLICA_REGION"}},
		{"ErrRelayDrainSettings", map[string]string{"CALL_MODE": "relay", "PUBLIC_BASE_URL": "https://x.example.com",
			"RELAY_DRAIN_CLOSE": "politely", "RELAY_DRAIN_TALK_WAIT": "-1s", "RELAY_RESUME_AFTER": "1m", "RELAY_FALLBACK_AFTER_ERRORS": "0"},
			[]string{"RELAY_DRAIN_CLOSE", "RELAY_DRAIN_TALK_WAIT", "RELAY_RESUME_AFTER", "RELAY_FALLBACK_AFTER_ERRORS"}},
		{"ErrLifecycle", map[string]string{"LIFECYCLE_POLL_INTERVAL": "-5s", "IMDS_ENDPOINT": "169.254.169.254"}, []string{"LIFECYCLE_POLL_INTERVAL", "IMDS_ENDPOINT"}},
		{"ErrReplicaRecheckTooShort", map[string]string{"S3_REPLICA_RECHECK": "0s"}, []string{"S3_REPLICA_RECHECK"}},
		{"ErrRedactUnknown", map[string]string{"REDACT": "some"}, []string{"REDACT"}},
		{"ErrRedactAllWithCapture", map[string]string{"REDACT": "all", "CAPTURE_DIR": "/tmp/capture"}, []string{"CAPTURE_DIR", "REDACT=all"}},
		{"ErrRetentionNegative", map[string]string{"RETENTION_DAYS": "-1"}, []string{"RETENTION_DAYS"}},
		{"ErrRetentionTooLong", map[string]string{"RETENTION_DAYS": "100000"}, []string{"RETENTION_DAYS"}},
		{"ErrRetentionNotANumber", map[string]string{"RETENTION_DAYS": "30d"}, []string{"RETENTION_DAYS"}},
		{"ErrRetentionBatch", map[string]string{"RETENTION_BATCH": "0"}, []string{"RETENTION_BATCH"}},
		{"ErrProductionOutboundPrivate", production(map[string]string{"OUTBOUND_ALLOW_PRIVATE": "true"}), []string{"OUTBOUND_ALLOW_PRIVATE"}},
		{"ErrProductionMissing", map[string]string{"SWITCHBOARD_ENV": "production"},
			[]string{"TWILIO_AUTH_TOKEN", "PUBLIC_BASE_URL", "API_TOKENS", "DATABASE_URL", "S3_BUCKET", "CONSOLE_SESSION_KEY"}},
		{"ErrShortSessionKey", map[string]string{"CONSOLE_SESSION_KEY": "short"}, []string{"CONSOLE_SESSION_KEY"}},
		{"ErrSessionTTL", map[string]string{"CONSOLE_SESSION_TTL": "1s"}, []string{"CONSOLE_SESSION_TTL"}},
		{"ErrConsoleAuth", map[string]string{"CONSOLE_AUTH": "password"}, []string{"CONSOLE_AUTH"}},
		{"ErrOIDCWithoutALBOrAllowList", map[string]string{"CONSOLE_AUTH": "oidc"},
			[]string{"CONSOLE_OIDC_ALB_ARN", "CONSOLE_OIDC_ALLOWED_DOMAINS"}},
		{"ErrOIDCNetworkLoadBalancer", oidc(map[string]string{"CONSOLE_OIDC_ALB_ARN": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/nlb/50dc6c495c0c9188"}),
			[]string{"CONSOLE_OIDC_ALB_ARN"}},
		{"ErrOIDCDomainIsAnAddress", oidc(map[string]string{"CONSOLE_OIDC_ALLOWED_DOMAINS": "ops@example.com"}), []string{"CONSOLE_OIDC_ALLOWED_DOMAINS"}},
		{"ErrOIDCPlainLogout", oidc(map[string]string{"CONSOLE_OIDC_LOGOUT_URL": "http://idp.example.com/logout"}), []string{"CONSOLE_OIDC_LOGOUT_URL"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfig(tc.env)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, n := range tc.names {
				if !strings.Contains(err.Error(), n) {
					t.Errorf("error does not name %s:\n%v", n, err)
				}
			}
		})
	}
}

// production returns a complete production environment with extra applied.
func production(extra map[string]string) map[string]string {
	env := map[string]string{
		"SWITCHBOARD_ENV": "production", "TWILIO_AUTH_TOKEN": "0123456789abcdef0123456789abcdef",
		"PUBLIC_BASE_URL": "https://voice.example.com", "API_TOKENS": "token-aaaaaaaaaaaaaaaa",
		"S3_BUCKET": "recordings", "DATABASE_URL": "postgres://switchboard@db.example.com/switchboard",
		"CONSOLE_SESSION_KEY": "console-session-key-0123456789abcdef",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// oidc returns a console signed in through the load balancer, with extra
// applied.
func oidc(extra map[string]string) map[string]string {
	env := map[string]string{
		"CONSOLE_AUTH":                 "oidc",
		"CONSOLE_OIDC_ALB_ARN":         "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/switchboard/50dc6c495c0c9188",
		"CONSOLE_OIDC_ALLOWED_DOMAINS": "example.com",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

func TestLoadConfigAccepts(t *testing.T) {
	cases := map[string]map[string]string{
		"OKProduction":             production(nil),
		"OKBaseURLWithStage":       {"PUBLIC_BASE_URL": "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"},
		"OKBaseURLWithSlash":       {"PUBLIC_BASE_URL": "https://voice.example.com/"},
		"OKVoiceOfOtherRegion":     {"CALL_LANGUAGE": "en-GB", "CALL_VOICE": "Polly.Joanna-Neural"},
		"OKGermanVoice":            {"CALL_LANGUAGE": "de-DE", "CALL_VOICE": "Polly.Vicki-Neural"},
		"OKGoogleVoice":            {"CALL_LANGUAGE": "es-MX", "CALL_VOICE": "Google.es-US-Neural2-A"},
		"OKUnknownVoiceIsAWarning": {"CALL_LANGUAGE": "en-US", "CALL_VOICE": "ElevenLabs.Someone"},
		"OKMandarin":               {"CALL_LANGUAGE": "cmn-Hans-CN", "CALL_VOICE": "Polly.Zhiyu-Neural"},
		"OKConsoleOIDC":            oidc(nil),
		"OKConsoleOIDCGroupsOnly":  oidc(map[string]string{"CONSOLE_OIDC_ALLOWED_DOMAINS": "", "CONSOLE_OIDC_ALLOWED_GROUPS": "call-review"}),
		"OKConsoleOIDCProduction":  production(oidc(map[string]string{"CONSOLE_OIDC_LOGOUT_URL": "https://idp.example.com/logout"})),
		// What Terraform writes into each region's settings.
		"OKReplica": production(map[string]string{"S3_REGION": "eu-west-1", "S3_KMS_KEY_ID": "arn:aws:kms:eu-west-1:111122223333:key/a",
			"S3_REPLICA_BUCKET": "recordings-dr", "S3_REPLICA_REGION": "eu-central-1"}),
	}
	for name, env := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := LoadConfig(env); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestConfigPrintMasksSecrets(t *testing.T) {
	c, err := LoadConfig(map[string]string{
		"TWILIO_AUTH_TOKEN": "supersecrettwiliotoken", "API_TOKENS": "token-aaaaaaaaaaaaaaaa,token-bbbbbbbbbbbbbbbb",
		"CONSOLE_SESSION_KEY": "supersecretconsolesessionkey0123456789",
	})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	c.Print(&b)
	out := b.String()
	for _, secret := range []string{"supersecrettwiliotoken", "token-aaaaaaaaaaaaaaaa", "supersecretconsolesessionkey"} {
		if strings.Contains(out, secret) {
			t.Errorf("printed configuration shows a secret:\n%s", out)
		}
	}
	if !strings.Contains(out, "TWILIO_AUTH_TOKEN=(set)") || !strings.Contains(out, "API_TOKENS=(2 set)") ||
		!strings.Contains(out, "CONSOLE_SESSION_KEY=(set)") {
		t.Errorf("printed configuration:\n%s", out)
	}
}

// TestDeprecatedAlias: SUMMARY_TIMEOUT still sets the summary bound (now
// ASSISTANT_SUMMARY_TIMEOUT) with a warning; the new name wins when both
// are set.
func TestDeprecatedAlias(t *testing.T) {
	c, err := LoadConfig(map[string]string{"SUMMARY_TIMEOUT": "42s"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Model.SummaryTimeout != 42*time.Second || c.Worker.SummaryTimeout != 42*time.Second {
		t.Errorf("summary timeouts %s, %s; want 42s", c.Model.SummaryTimeout, c.Worker.SummaryTimeout)
	}
	if len(c.Deprecated) != 1 || !strings.Contains(c.Deprecated[0], "ASSISTANT_SUMMARY_TIMEOUT") {
		t.Errorf("warnings %q", c.Deprecated)
	}
	c, err = LoadConfig(map[string]string{"SUMMARY_TIMEOUT": "42s", "ASSISTANT_SUMMARY_TIMEOUT": "7s"})
	if err != nil || c.Worker.SummaryTimeout != 7*time.Second {
		t.Errorf("both set: %s, %v; want 7s", c.Worker.SummaryTimeout, err)
	}
	if c, _ := LoadConfig(map[string]string{}); len(c.Deprecated) != 0 || c.Worker.SummaryTimeout != 60*time.Second {
		t.Errorf("defaults: %q, %s", c.Deprecated, c.Worker.SummaryTimeout)
	}
}
