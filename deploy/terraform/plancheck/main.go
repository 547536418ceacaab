// Command plancheck holds the plans of `terraform test` runs to a list of
// expected changes, so a test can say "this plan creates, replaces and
// destroys nothing but these", which a run block's assertions cannot.
//
// It reads the JSON stream of `terraform test -json -verbose` (whose
// test_plan messages carry each plan run's plan) on standard input, and a
// list of expected changes, one per line:
//
//	<test file> <run> <action> <resource address>
//	<test file> <run> none
//
// where action is create, update, delete, replace, forget or read. Every run
// named in the list must have planned exactly the changes listed for it; runs
// not named are not checked. Blank lines and lines starting with # are
// ignored. With -echo it also prints the stream's human-readable messages
// (progress, diagnostics, the summary), leaving out the plans and states.
// deploy/verify.sh runs it on the two-region example's tests.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
)

func main() {
	expectPath := flag.String("expect", "", "file listing the expected changes")
	echo := flag.Bool("echo", false, "print the stream's messages (not its plans and states)")
	flag.Parse()
	if *expectPath == "" {
		fmt.Fprintln(os.Stderr, "usage: terraform test -json -verbose | plancheck -expect FILE")
		os.Exit(2)
	}
	f, err := os.Open(*expectPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plancheck:", err)
		os.Exit(2)
	}
	defer f.Close()
	want, err := readExpected(f)
	if err != nil {
		fmt.Fprintf(os.Stderr, "plancheck: %s: %v\n", *expectPath, err)
		os.Exit(2)
	}
	var out io.Writer
	if *echo {
		out = os.Stdout
	}
	got, err := readPlans(os.Stdin, out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plancheck:", err)
		os.Exit(2)
	}
	problems := compare(want, got)
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, "plancheck:", p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
	n := 0
	for _, changes := range want {
		n += len(changes)
	}
	fmt.Printf("plancheck: %d run(s) planned exactly the %d expected change(s)\n", len(want), n)
}

// run names a run block: the test file's base name and the run's label.
type run struct{ file, name string }

func (r run) String() string { return r.file + " run " + r.name }

// change is one planned action on one resource instance.
type change struct{ action, address string }

// actions are the words an expectation may use.
var actions = []string{"create", "update", "delete", "replace", "forget", "read"}

// readExpected parses the expectation list; a run listed with "none" maps
// to an empty, non-nil slice.
func readExpected(r io.Reader) (map[run][]change, error) {
	want := map[run][]change{}
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		fields := strings.Fields(text)
		switch {
		case len(fields) == 3 && fields[2] == "none":
			k := run{fields[0], fields[1]}
			if len(want[k]) > 0 {
				return nil, fmt.Errorf("line %d: %s is listed with changes and with none", line, k)
			}
			want[k] = []change{}
		case len(fields) == 4 && slices.Contains(actions, fields[2]):
			k := run{fields[0], fields[1]}
			if w, ok := want[k]; ok && len(w) == 0 {
				return nil, fmt.Errorf("line %d: %s is listed with changes and with none", line, k)
			}
			want[k] = append(want[k], change{fields[2], fields[3]})
		default:
			return nil, fmt.Errorf("line %d: want \"<file> <run> <%s> <address>\" or \"<file> <run> none\", got %q",
				line, strings.Join(actions, "|"), text)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(want) == 0 {
		return nil, errors.New("no expectations")
	}
	return want, nil
}

// message is the part of a `terraform test -json` line plancheck reads.
type message struct {
	Type     string `json:"type"`
	Message  string `json:"@message"`
	TestFile string `json:"@testfile"`
	TestRun  string `json:"@testrun"`
	TestPlan *struct {
		ResourceChanges []struct {
			Address string `json:"address"`
			Change  struct {
				Actions []string `json:"actions"`
			} `json:"change"`
		} `json:"resource_changes"`
	} `json:"test_plan"`
}

// readPlans collects the changes of every plan in the stream, keyed by run,
// and writes the other messages' text to echo unless it is nil. Lines are
// long (a plan carries the provider's schemas), so they are decoded whole
// rather than through a line-length-limited scanner.
func readPlans(r io.Reader, echo io.Writer) (map[run][]change, error) {
	got := map[run][]change{}
	dec := json.NewDecoder(r)
	for {
		var m message
		err := dec.Decode(&m)
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading terraform test -json output: %w", err)
		}
		if m.Type != "test_plan" && m.Type != "test_state" && echo != nil {
			fmt.Fprintln(echo, m.Message)
		}
		if m.Type != "test_plan" || m.TestPlan == nil {
			continue
		}
		k := run{path.Base(m.TestFile), m.TestRun}
		changes := []change{}
		for _, rc := range m.TestPlan.ResourceChanges {
			if a := action(rc.Change.Actions); a != "" {
				changes = append(changes, change{a, rc.Address})
			}
		}
		got[k] = changes
	}
}

// action names a plan's action list in the expectation's words; "" for
// no-op.
func action(list []string) string {
	switch strings.Join(list, ",") {
	case "no-op", "":
		return ""
	case "delete,create", "create,delete":
		return "replace"
	default:
		return strings.Join(list, ",")
	}
}

// compare reports every difference between the expected and the planned
// changes of the runs the expectation names.
func compare(want, got map[run][]change) []string {
	var problems []string
	runs := make([]run, 0, len(want))
	for k := range want {
		runs = append(runs, k)
	}
	slices.SortFunc(runs, func(a, b run) int { return strings.Compare(a.String(), b.String()) })
	for _, k := range runs {
		planned, ok := got[k]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: no plan in the input (is it a plan run, and was -verbose given?)", k))
			continue
		}
		for _, c := range planned {
			if !slices.Contains(want[k], c) {
				problems = append(problems, fmt.Sprintf("%s: unexpected %s of %s", k, c.action, c.address))
			}
		}
		for _, c := range want[k] {
			if !slices.Contains(planned, c) {
				problems = append(problems, fmt.Sprintf("%s: expected %s of %s, not planned", k, c.action, c.address))
			}
		}
	}
	return problems
}
