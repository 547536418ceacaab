package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// reporter prints one line per fixture, diffs under failures, an optional
// progress indicator, and the summary.
type reporter struct {
	out            io.Writer
	progress       bool
	total, done    int
	passed, failed int
}

// step shows which fixture is being sent, on a line the next output
// overwrites.
func (r *reporter) step(what string) {
	if r.progress {
		fmt.Fprintf(r.out, "\r\033[K[%d/%d] %s", r.done+1, r.total, what)
	}
}

func (r *reporter) clearProgress() {
	if r.progress {
		fmt.Fprint(r.out, "\r\033[K")
	}
}

func (r *reporter) pass(scenario, name string, status int, note string) {
	r.clearProgress()
	r.done++
	r.passed++
	line := fmt.Sprintf("PASS  %s  %s  %d", scenario, name, status)
	if note != "" {
		line += "  (" + note + ")"
	}
	fmt.Fprintln(r.out, line)
}

func (r *reporter) fail(scenario, name, detail, diff string) {
	r.clearProgress()
	r.done++
	r.failed++
	fmt.Fprintf(r.out, "FAIL  %s  %s  %s\n", scenario, name, detail)
	if diff != "" {
		fmt.Fprintln(r.out, "  mismatch (-want +got):")
		for line := range strings.SplitSeq(strings.TrimRight(diff, "\n"), "\n") {
			fmt.Fprintln(r.out, "  "+line)
		}
	}
}

func (r *reporter) summary() {
	r.clearProgress()
	fmt.Fprintf(r.out, "%d passed, %d failed\n", r.passed, r.failed)
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
