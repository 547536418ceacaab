package assistant

import (
	"strings"
	"testing"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/google/go-cmp/cmp"
)

func TestModelConfigFromEnvironment(t *testing.T) {
	t.Run("DefaultsMatchDefaultModelConfig", func(t *testing.T) {
		var c ModelConfig
		if err := env.ParseWithOptions(&c, env.Options{Environment: map[string]string{}}); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(DefaultModelConfig(), c); diff != "" {
			t.Errorf("environment defaults (-DefaultModelConfig +parsed):\n%s", diff)
		}
	})
	t.Run("TurnTimeoutParsedAndBounded", func(t *testing.T) {
		var c ModelConfig
		err := env.ParseWithOptions(&c, env.Options{Environment: map[string]string{
			"ASSISTANT_TURN_TIMEOUT": "14s",
			"ASSISTANT_PROMPT_FILE":  "/etc/switchboard/prompt.txt",
		}})
		if err != nil {
			t.Fatal(err)
		}
		if c.TurnTimeout != 14*time.Second || c.PromptFile != "/etc/switchboard/prompt.txt" {
			t.Fatalf("parsed %+v", c)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "ASSISTANT_TURN_TIMEOUT") {
			t.Fatalf("Validate = %v, want ASSISTANT_TURN_TIMEOUT rejected", err)
		}
	})
}
