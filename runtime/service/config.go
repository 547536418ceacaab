package service

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"switchboard/assistant"
	"switchboard/assistant/bedrock"
	"switchboard/assistant/openai"
	"switchboard/handlers"
	"switchboard/handlers/console"
	"switchboard/runtime"
	"switchboard/runtime/lifecycle"
	"switchboard/runtime/worker"
	"switchboard/storage"
	"switchboard/storage/postgres"
	s3store "switchboard/storage/s3"
)

// Config is every setting of the service, read once from the environment.
// Fields tagged secret are masked when the configuration is printed.
type Config struct {
	Env              string `env:"SWITCHBOARD_ENV" envDefault:"development"`
	PublicBaseURL    string `env:"PUBLIC_BASE_URL"`
	TwilioAccountSID string `env:"TWILIO_ACCOUNT_SID"`
	TwilioAuthToken  string `env:"TWILIO_AUTH_TOKEN" secret:"true"`
	// TwilioNextAuthToken is accepted besides TWILIO_AUTH_TOKEN while the
	// account's token is rotated.
	TwilioNextAuthToken string   `env:"TWILIO_NEXT_AUTH_TOKEN" secret:"true"`
	TwilioAPIBaseURL    string   `env:"TWILIO_API_BASE_URL" envDefault:"https://api.twilio.com"`
	APITokens           []string `env:"API_TOKENS" envSeparator:"," secret:"true"`
	DataDir             string   `env:"DATA_DIR" envDefault:"./data"`
	LogLevel            string   `env:"LOG_LEVEL" envDefault:"info"`

	Language       string        `env:"CALL_LANGUAGE" envDefault:"en-US"`
	Voice          string        `env:"CALL_VOICE" envDefault:"Polly.Joanna-Neural"`
	MaxSilence     int           `env:"MAX_SILENCE" envDefault:"2"`
	MaxFailures    int           `env:"ASSISTANT_MAX_FAILURES" envDefault:"3"`
	RequestTimeout time.Duration `env:"REQUEST_TIMEOUT" envDefault:"3s"`
	Assistant      string        `env:"ASSISTANT" envDefault:"scripted"`
	// CallMode is how calls run: gather (a webhook per caller turn) or
	// relay (a streamed ConversationRelay WebSocket; HTTP runtime only).
	CallMode string `env:"CALL_MODE" envDefault:"gather"`
	// Serverless: the service runs under AWS Lambda, which cannot hold a
	// ConversationRelay socket; calls whose assistant streams run with
	// <Gather> there. Set by cmd/switchboard, not the environment.
	Serverless bool `env:"-"`
	// LogFormat is text (readable lines), json, or auto: text on a
	// terminal, JSON otherwise.
	LogFormat string `env:"LOG_FORMAT" envDefault:"auto"`

	// CaptureDir, when set, keeps every Twilio webhook as a replayable
	// fixture (see capture.go); CaptureRedact fakes the phone numbers in it.
	CaptureDir    string `env:"CAPTURE_DIR"`
	CaptureRedact bool   `env:"CAPTURE_REDACT"`

	// OutboundAllowPrivate lets requests to the business (tools, events)
	// reach loopback and private addresses: on in development, where the
	// business's endpoints run on the same machine; off, and refused, in
	// production. Link-local and metadata addresses are refused always.
	OutboundAllowPrivate bool `env:"OUTBOUND_ALLOW_PRIVATE" envDefault:"true"`

	// Redact says where personal data (card numbers, SSNs, e-mail
	// addresses, phone numbers) is replaced by its kind: off; logs, every
	// log line; all, the logs and everything stored (turns, summaries,
	// analyses, tool calls).
	Redact string `env:"REDACT" envDefault:"off"`
	// RedactModelInput, with REDACT=all, gives the model the conversation
	// as stored, redacted. false gives it the caller's current words as
	// said (a booking tool may need the number), while earlier turns are
	// read back redacted. No effect with REDACT=off or logs.
	RedactModelInput bool `env:"REDACT_MODEL_INPUT" envDefault:"true"`

	// Deprecated lists the deprecated variables in use, said as warnings.
	Deprecated []string `env:"-"`

	HTTP   runtime.Config
	Worker worker.Config
	Model  assistant.ModelConfig
	// S3 holds recordings when S3_BUCKET is set; DATA_DIR otherwise.
	S3 s3store.Config
	// Postgres holds calls when DATABASE_URL is set; memory otherwise.
	Postgres postgres.Config
	OpenAI   openai.Config
	Bedrock  bedrock.Config
	// Console configures the web console's sign-in.
	Console console.Config
	// Relay shapes streamed calls (CALL_MODE=relay).
	Relay handlers.RelayConfig
	// Lifecycle polls the instance's Auto Scaling target lifecycle state,
	// to drain when it is taken out of service, before SIGTERM.
	Lifecycle lifecycle.Config
}

// The values of REDACT.
const (
	RedactOff  = "off"
	RedactLogs = "logs"
	RedactAll  = "all"
)

// RedactsLogs reports whether log lines are redacted (REDACT=logs or all).
func (c Config) RedactsLogs() bool { return c.Redact == RedactLogs || c.Redact == RedactAll }

// deprecatedAliases are variables still accepted under an old name: the old
// one is used when the new one is unset, with a warning at start-up.
var deprecatedAliases = []struct{ old, current string }{
	// Both bounded the summary; the assistant's setting is the one kept.
	{"SUMMARY_TIMEOUT", "ASSISTANT_SUMMARY_TIMEOUT"},
}

// LoadConfig parses environ (the process environment, after Parameter
// Store) and validates the result, reporting every problem at once.
func LoadConfig(environ map[string]string) (Config, error) {
	var c Config
	environ = maps.Clone(environ)
	for _, a := range deprecatedAliases {
		v, old := environ[a.old]
		if !old {
			continue
		}
		c.Deprecated = append(c.Deprecated, fmt.Sprintf("%s is deprecated; set %s instead", a.old, a.current))
		if _, set := environ[a.current]; !set {
			environ[a.current] = v
		}
	}
	if err := env.ParseWithOptions(&c, env.Options{Environment: environ}); err != nil {
		return c, parseErrors(err)
	}
	c.Worker.SummaryTimeout = c.Model.SummaryTimeout
	if _, set := environ["OUTBOUND_ALLOW_PRIVATE"]; !set && c.Production() {
		c.OutboundAllowPrivate = false
	}
	for i, t := range c.APITokens {
		c.APITokens[i] = strings.TrimSpace(t)
	}
	if c.PublicBaseURL == "" && !c.Production() {
		// In development Twilio (through a tunnel) or the replay tool reach
		// the server on its own port; production must say where it lives.
		if _, port, err := net.SplitHostPort(c.HTTP.ListenAddr); err == nil && port != "" && port != "0" {
			c.PublicBaseURL = "http://localhost:" + port
		}
	}
	return c, c.Validate()
}

// parseErrors rewrites the parser's errors to name the variable, not the
// Go field, so the operator knows what to fix.
func parseErrors(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return fmt.Errorf("configuration: %w", err)
	}
	names := map[string][]string{}
	collectEnvNames(reflect.TypeOf(Config{}), names)
	var errs []error
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			errs = append(errs, fmt.Errorf("%s: %v", strings.Join(names[pe.Name], " or "), pe.Err))
			continue
		}
		errs = append(errs, e)
	}
	return sortedJoin(errs)
}

func collectEnvNames(t reflect.Type, names map[string][]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if key := strings.Split(f.Tag.Get("env"), ",")[0]; key == "-" {
			continue
		} else if key != "" {
			names[f.Name] = append(names[f.Name], key)
		} else if f.Type.Kind() == reflect.Struct {
			collectEnvNames(f.Type, names)
		}
	}
}

// Defaults is the configuration of an empty environment: development, every
// default from the env tags. Tests and tools start from it.
func Defaults() Config {
	c, err := LoadConfig(map[string]string{})
	if err != nil {
		panic("service: the defaults do not validate: " + err.Error())
	}
	return c
}

// Production reports whether SWITCHBOARD_ENV is production.
func (c Config) Production() bool { return c.Env == "production" }

// Validate checks every setting and returns all problems together, each
// naming its variable.
func (c Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch c.Env {
	case "development", "production":
	default:
		add("SWITCHBOARD_ENV must be development or production, got %q", c.Env)
	}
	if c.PublicBaseURL != "" {
		// A path is allowed: an API Gateway stage or base path mapping
		// (https://abc.execute-api.eu-west-1.amazonaws.com/prod).
		if u, err := url.Parse(c.PublicBaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
			add("PUBLIC_BASE_URL must be an http(s) URL with no query, e.g. https://voice.example.com or https://abc.execute-api.eu-west-1.amazonaws.com/prod, got %q", c.PublicBaseURL)
		}
	}
	if c.TwilioAccountSID != "" && !storage.ValidSID(c.TwilioAccountSID, "AC") {
		add("TWILIO_ACCOUNT_SID must be AC followed by 32 hex digits")
	}
	if u, err := url.Parse(c.TwilioAPIBaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		add("TWILIO_API_BASE_URL must be an http(s) URL, got %q", c.TwilioAPIBaseURL)
	}
	for _, t := range c.APITokens {
		if len(t) < 16 {
			add("API_TOKENS entries must be at least 16 characters")
			break
		}
	}
	if c.DataDir == "" {
		add("DATA_DIR must not be empty")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add("LOG_LEVEL must be debug, info, warn or error, got %q", c.LogLevel)
	}
	if _, err := handlers.CheckSpeech(c.Language, c.Voice); err != nil {
		errs = append(errs, err)
	}
	if c.MaxSilence < 1 || c.MaxSilence > 10 {
		add("MAX_SILENCE must be from 1 to 10, got %d", c.MaxSilence)
	}
	if c.MaxFailures < 1 || c.MaxFailures > 10 {
		add("ASSISTANT_MAX_FAILURES must be from 1 to 10, got %d", c.MaxFailures)
	}
	if c.RequestTimeout <= 0 || c.RequestTimeout > 10*time.Second {
		add("REQUEST_TIMEOUT must be > 0 and ≤ 10s, got %s", c.RequestTimeout)
	}
	subs := []error{c.HTTP.Validate(), c.Worker.Validate(), c.Model.Validate(), c.Console.Validate(c.Production()), c.Lifecycle.Validate()}
	switch c.CallMode {
	case handlers.ModeGather:
	case handlers.ModeRelay:
		subs = append(subs, c.Relay.Validate())
		if u, err := url.Parse(c.PublicBaseURL); c.Production() && (err != nil || u.Scheme != "https") {
			add("CALL_MODE=relay needs an https PUBLIC_BASE_URL: ConversationRelay connects only to wss:// URLs")
		}
	default:
		add("CALL_MODE must be gather or relay, got %q", c.CallMode)
	}
	switch c.Redact {
	case RedactOff, RedactLogs, RedactAll:
	default:
		add("REDACT must be off, logs or all, got %q", c.Redact)
	}
	if c.Redact == RedactAll && c.CaptureDir != "" {
		add("CAPTURE_DIR keeps webhooks as Twilio sent them, what callers said included: it cannot be used with REDACT=all")
	}
	switch c.LogFormat {
	case "auto", "text", "json":
	default:
		add("LOG_FORMAT must be auto, text or json, got %q", c.LogFormat)
	}
	switch c.Assistant {
	case "scripted":
	case "openai":
		subs = append(subs, c.OpenAI.Validate())
	case "bedrock":
		subs = append(subs, c.Bedrock.Validate())
	default:
		add("ASSISTANT must be scripted, openai or bedrock, got %q", c.Assistant)
	}
	if c.S3.Bucket != "" {
		subs = append(subs, c.S3.Validate())
	} else if c.S3.ReplicaBucket != "" || c.S3.ReplicaRegion != "" {
		add("S3_REPLICA_BUCKET and S3_REPLICA_REGION need S3_BUCKET: the replica is a copy of that bucket")
	}
	if c.Postgres.URL != "" {
		subs = append(subs, c.Postgres.Validate())
	}
	for _, err := range subs {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if c.Production() {
		if c.OutboundAllowPrivate {
			add("OUTBOUND_ALLOW_PRIVATE=true is for development: in production the business's tools and event endpoints must be public addresses")
		}
		// The auth token travels to TWILIO_API_BASE_URL as Basic auth.
		if u, err := url.Parse(c.TwilioAPIBaseURL); err == nil && u.Scheme != "https" {
			add("TWILIO_API_BASE_URL must be https when SWITCHBOARD_ENV=production, got %q", c.TwilioAPIBaseURL)
		}
		for name, tok := range map[string]string{"TWILIO_AUTH_TOKEN": c.TwilioAuthToken, "TWILIO_NEXT_AUTH_TOKEN": c.TwilioNextAuthToken} {
			if tok != "" && !twilioTokenShape(tok) {
				add("%s must be a Twilio auth token (32 hexadecimal digits)", name)
			}
		}
		for name, missing := range map[string]bool{
			"TWILIO_AUTH_TOKEN": c.TwilioAuthToken == "",
			"PUBLIC_BASE_URL":   c.PublicBaseURL == "",
			"API_TOKENS":        len(c.APITokens) == 0,
			"S3_BUCKET":         c.S3.Bucket == "",
			"DATABASE_URL":      c.Postgres.URL == "",
		} {
			if missing {
				add("%s is required when SWITCHBOARD_ENV=production", name)
			}
		}
	}
	return sortedJoin(errs)
}

// twilioTokenShape reports whether t looks like a Twilio auth token: 32
// hexadecimal digits, as the Console shows it.
func twilioTokenShape(t string) bool {
	if len(t) != 32 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// sortedJoin joins errors one per line in a stable order.
func sortedJoin(errs []error) error {
	var lines []string
	for _, e := range errs {
		lines = append(lines, strings.Split(e.Error(), "\n")...)
	}
	if len(lines) == 0 {
		return nil
	}
	sort.Strings(lines)
	return errors.New(strings.Join(lines, "\n"))
}

// Print writes every setting, one per line, with secrets masked.
func (c Config) Print(w io.Writer) {
	for _, s := range c.settings() {
		fmt.Fprintf(w, "  %s=%s\n", s.name, s.value)
	}
}

// PrintChanged writes the settings whose value differs from its default,
// one per line, with secrets masked, and returns how many it wrote: what
// an operator set, without the dozens of defaults around it.
func (c Config) PrintChanged(w io.Writer) int {
	defaults := map[string]string{}
	for _, s := range Defaults().settings() {
		defaults[s.name] = s.value
	}
	n := 0
	for _, s := range c.settings() {
		if d, ok := defaults[s.name]; !ok || d != s.value {
			fmt.Fprintf(w, "  %s=%s\n", s.name, s.value)
			n++
		}
	}
	return n
}

// setting is one variable and its printable (masked) value.
type setting struct{ name, value string }

func (c Config) settings() []setting {
	var b strings.Builder
	printStruct(&b, reflect.ValueOf(c))
	var out []setting
	for line := range strings.Lines(b.String()) {
		name, value, _ := strings.Cut(strings.TrimSpace(line), "=")
		out = append(out, setting{name, value})
	}
	return out
}

func printStruct(w io.Writer, v reflect.Value) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f, fv := t.Field(i), v.Field(i)
		name := f.Tag.Get("env")
		if name == "-" {
			continue
		}
		if name == "" {
			if fv.Kind() == reflect.Struct {
				printStruct(w, fv)
			}
			continue
		}
		val := fmt.Sprint(fv.Interface())
		if f.Tag.Get("secret") == "true" || strings.Contains(name, "SECRET") || strings.HasSuffix(name, "_KEY") || strings.HasSuffix(name, "_TOKEN") || strings.Contains(name, "PASSWORD") {
			val = mask(fv)
		}
		if strings.HasSuffix(name, "DATABASE_URL") {
			val = maskURL(val)
		}
		fmt.Fprintf(w, "  %s=%s\n", name, val)
	}
}

func mask(v reflect.Value) string {
	if v.IsZero() || (v.Kind() == reflect.Slice && v.Len() == 0) {
		return "(unset)"
	}
	if v.Kind() == reflect.Slice {
		return fmt.Sprintf("(%d set)", v.Len())
	}
	if v.Kind() == reflect.Struct {
		return "(set)"
	}
	return "(set)"
}

// maskURL hides the password of a connection URL.
func maskURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
