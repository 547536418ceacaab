package pgtest

import (
	"errors"
	"strings"
	"testing"
)

func TestMissing(t *testing.T) {
	t.Run("SaysHowToInstall", func(t *testing.T) {
		t.Setenv("CI", "")
		msg := missing(ErrNoServerBinaries)
		for _, want := range []string{"apt-get install postgresql", "TEST_DATABASE_URL", ErrNoServerBinaries.Error()} {
			if !strings.Contains(msg, want) {
				t.Errorf("message lacks %q:\n%s", want, msg)
			}
		}
	})
	t.Run("CIRequiresPostgreSQL", func(t *testing.T) {
		t.Setenv("CI", "true")
		if msg := missing(errors.New("initdb failed")); !strings.Contains(msg, "CI=true") {
			t.Errorf("message does not say CI requires PostgreSQL:\n%s", msg)
		}
	})
}
