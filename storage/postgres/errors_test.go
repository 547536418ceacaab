package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"switchboard/storage"
)

func TestTranslate(t *testing.T) {
	pg := func(code string) error { return &pgconn.PgError{Code: code, Message: "from the server"} }
	dialErr := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name string
		err  error
		want error // nil: internal
	}{
		{"NoRowsIsNotFound", pgx.ErrNoRows, storage.ErrNotFound},
		{"ForeignKeyIsNotFound", pg("23503"), storage.ErrNotFound},
		{"UniqueIsConflict", pg("23505"), storage.ErrConflict},
		{"CheckIsInvalid", pg("23514"), storage.ErrInvalid},
		{"BadEncodingIsInvalid", pg("22021"), storage.ErrInvalid},
		{"AdminShutdownIsUnavailable", pg("57P01"), storage.ErrUnavailable},
		{"StartingUpIsUnavailable", pg("57P03"), storage.ErrUnavailable},
		{"ConnectionExceptionIsUnavailable", pg("08006"), storage.ErrUnavailable},
		{"StatementTimeoutIsUnavailable", pg("57014"), storage.ErrUnavailable},
		{"DeadlockIsUnavailable", pg("40P01"), storage.ErrUnavailable},
		{"DeadlineIsUnavailable", fmt.Errorf("query: %w", context.DeadlineExceeded), storage.ErrUnavailable},
		{"RefusedIsUnavailable", dialErr, storage.ErrUnavailable},
		{"BrokenConnectionIsUnavailable", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), storage.ErrUnavailable},
		{"ClosedConnIsUnavailable", fmt.Errorf("wrapped: %w", pgconn.ErrConnClosed), storage.ErrUnavailable},
		{"SyntaxErrorIsInternal", pg("42601"), nil},
		{"UnknownErrorIsInternal", errors.New("something else"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := translate(tt.err, "test")
			if k := storage.KindOf(got); k != tt.want {
				t.Fatalf("translate(%v) kind = %v, want %v", tt.err, k, tt.want)
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("translate(%v) = %v, lost the cause", tt.err, got)
			}
			if tt.want != nil && storage.Message(got) == "" {
				t.Errorf("translate(%v) has no client-safe message", tt.err)
			}
			if m := storage.Message(got); m != "" && (containsDetail(m)) {
				t.Errorf("client-safe message %q carries driver detail", m)
			}
		})
	}

	t.Run("KindPassesThrough", func(t *testing.T) {
		in := storage.Errorf(storage.ErrConflict, "work lease is no longer held")
		if got := translate(in, "test"); got != in {
			t.Fatalf("translate changed an error of a kind: %v", got)
		}
	})
	t.Run("NilIsNil", func(t *testing.T) {
		if got := translate(nil, "test"); got != nil {
			t.Fatalf("translate(nil) = %v", got)
		}
	})
}

func containsDetail(msg string) bool {
	for _, s := range []string{"SQLSTATE", "from the server", "dial", "unexpected EOF"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
