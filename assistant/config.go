package assistant

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/caarlos0/env/v11"
)

// MaxTurnTimeout bounds ASSISTANT_TURN_TIMEOUT. Twilio abandons a webhook
// after 15 s; 13 s leaves room for the store writes and the TwiML around the
// model call.
const MaxTurnTimeout = 13 * time.Second

// ModelConfig is what every model-backed assistant shares, whatever the
// provider: how long a turn may take and what the assistant is told.
type ModelConfig struct {
	// TurnTimeout bounds a whole reply, retries included.
	TurnTimeout time.Duration `env:"ASSISTANT_TURN_TIMEOUT" envDefault:"8s"`
	// AttemptTimeout bounds one request to the provider inside a turn, so a
	// stalled connection leaves time for a second try.
	AttemptTimeout time.Duration `env:"ASSISTANT_ATTEMPT_TIMEOUT" envDefault:"5s"`
	// SummaryTimeout bounds a post-call summary; it runs as background work,
	// which retries durably, so it may be long.
	SummaryTimeout time.Duration `env:"ASSISTANT_SUMMARY_TIMEOUT" envDefault:"60s"`
	// Prompt describes the business. PromptFile, when set, wins over it.
	Prompt     string `env:"ASSISTANT_PROMPT"`
	PromptFile string `env:"ASSISTANT_PROMPT_FILE"`
	// Greeting is said when the call is answered, without asking the model,
	// so the incoming-call webhook never waits for a provider.
	Greeting string `env:"ASSISTANT_GREETING" envDefault:"Hello, thanks for calling. How can I help you today?"`
	// Goodbye is said when the model ends the call without a farewell.
	Goodbye string `env:"ASSISTANT_GOODBYE" envDefault:"Thank you for calling. Goodbye!"`
	// MaxReplyChars bounds a spoken reply.
	MaxReplyChars int `env:"ASSISTANT_MAX_REPLY_CHARS" envDefault:"400"`
}

// DefaultModelConfig is the configuration with every default applied, for
// callers that do not read the environment (tests, tools). The defaults
// are the env tags' and nowhere else.
func DefaultModelConfig() ModelConfig {
	var c ModelConfig
	if err := env.ParseWithOptions(&c, env.Options{Environment: map[string]string{}}); err != nil {
		panic("assistant: the ModelConfig defaults do not parse: " + err.Error())
	}
	return c
}

// Validate reports every problem at once, each naming its variable.
func (c ModelConfig) Validate() error {
	var errs []error
	if c.TurnTimeout <= 0 || c.TurnTimeout > MaxTurnTimeout {
		errs = append(errs, fmt.Errorf("ASSISTANT_TURN_TIMEOUT must be > 0 and ≤ %s, got %s", MaxTurnTimeout, c.TurnTimeout))
	}
	if c.AttemptTimeout <= 0 {
		errs = append(errs, fmt.Errorf("ASSISTANT_ATTEMPT_TIMEOUT must be > 0, got %s", c.AttemptTimeout))
	}
	if c.SummaryTimeout <= 0 || c.SummaryTimeout > 10*time.Minute {
		errs = append(errs, fmt.Errorf("ASSISTANT_SUMMARY_TIMEOUT must be > 0 and ≤ 10m, got %s", c.SummaryTimeout))
	}
	if c.Greeting == "" {
		errs = append(errs, errors.New("ASSISTANT_GREETING must not be empty"))
	}
	if c.Goodbye == "" {
		errs = append(errs, errors.New("ASSISTANT_GOODBYE must not be empty"))
	}
	if c.MaxReplyChars < 40 || c.MaxReplyChars > 2000 {
		errs = append(errs, fmt.Errorf("ASSISTANT_MAX_REPLY_CHARS must be between 40 and 2000, got %d", c.MaxReplyChars))
	}
	return errors.Join(errs...)
}

// Deps is what a model-backed assistant takes from the process besides its
// provider's settings.
type Deps struct {
	Config ModelConfig
	// Metrics records every turn; nil records nothing.
	Metrics *Metrics
	// Logger receives one record per turn; nil means slog.Default().
	Logger *slog.Logger
	// Tools performs business tool calls; nil refuses them.
	Tools ToolRunner
}
