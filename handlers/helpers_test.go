package handlers_test

import (
	"io"
	"strings"
)

func bodyOf(s string) (io.ReadCloser, int64) {
	return io.NopCloser(strings.NewReader(s)), int64(len(s))
}
