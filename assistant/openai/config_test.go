package openai_test

import (
	"testing"

	"github.com/caarlos0/env/v11"
	"github.com/google/go-cmp/cmp"

	"switchboard/assistant/openai"
)

func TestConfigFromEnvironment(t *testing.T) {
	var c openai.Config
	err := env.ParseWithOptions(&c, env.Options{Environment: map[string]string{
		"OPENAI_API_KEY": "sk-test",
		"OPENAI_MODEL":   "gpt-4o-mini",
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := openai.Config{
		BaseURL:          "https://api.openai.com/v1",
		APIKey:           "sk-test",
		Model:            "gpt-4o-mini",
		Temperature:      0.3,
		MaxTokens:        150,
		StructuredOutput: true,
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("parsed config (-want +got):\n%s", diff)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}
