// Package redact finds personal data in what callers and assistants say —
// card numbers, US social security numbers, e-mail addresses and phone
// numbers — and replaces each with the name of its kind ("[card]"), so
// that transcripts, summaries, analysis fields, tool-call arguments, event
// payloads and logs keep what was said without the data itself.
//
// Speech arrives as text from a recogniser: digits may be written ("4111
// 1111 1111 1111", "4111-1111-…") or spelt out ("four one one one …", "oh"
// for zero, "double five"), and an address may be spoken ("jane dot doe at
// example dot com"). Runs of digits are classified by their length and
// shape: 13–19 digits that pass the Luhn check are a card (a number of that
// length that fails it is left alone: an order or tracking number); nine
// digits grouped 3-2-4, or following the words "social security" or "SSN",
// are an SSN; 10–15 digits (or a + and 8–15 digits, or the US groupings
// 3-3-4 with optional parentheses and country code) are a phone number.
// Shorter runs — prices, times, years, counts, house numbers — are never
// touched.
package redact

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// Kind is a kind of personal data.
type Kind string

// The kinds of personal data found.
const (
	Card  Kind = "card"
	SSN   Kind = "ssn"
	Email Kind = "email"
	Phone Kind = "phone"
)

// Placeholder is what replaces data of kind k.
func Placeholder(k Kind) string { return "[" + string(k) + "]" }

// Text returns s with every card number, SSN, e-mail address and phone
// number replaced by its placeholder, and the kinds replaced, in order of
// appearance (a kind once per occurrence).
func Text(s string) (string, []Kind) {
	if s == "" {
		return s, nil
	}
	var found []Kind
	s = replaceEmails(s, &found)
	s = replaceDigitRuns(s, &found)
	return s, found
}

// String is Text without the kinds.
func String(s string) string {
	out, _ := Text(s)
	return out
}

var (
	writtenEmail = regexp.MustCompile(`(?i)[a-z0-9._%+\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.[a-z]{2,}`)
	// A spoken address: "jane dot doe at example dot com", the domain with at
	// least one "dot" and a known top-level word.
	spokenEmail = regexp.MustCompile(`(?i)\b[a-z0-9]+(?:\s+(?:dot|underscore|dash|hyphen)\s+[a-z0-9]+)*\s+at\s+[a-z0-9]+(?:\s+dot\s+[a-z0-9]+)*\s+dot\s+(?:com|net|org|edu|gov|io|co|uk|de|fr|es|it|nl|ca|au|info|biz|us|me)\b`)
)

func replaceEmails(s string, found *[]Kind) string {
	for _, re := range []*regexp.Regexp{writtenEmail, spokenEmail} {
		s = re.ReplaceAllStringFunc(s, func(string) string {
			*found = append(*found, Email)
			return Placeholder(Email)
		})
	}
	return s
}

// digitWords are the words a recogniser writes for spoken digits.
var digitWords = map[string]string{
	"zero": "0", "oh": "0", "o": "0", "one": "1", "two": "2", "three": "3", "four": "4",
	"five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}

// token is a word or a group of digits of the input, with its byte span.
type token struct {
	text       string
	start, end int
	// digits is what the token contributes to a digit run ("" when it is
	// not part of one); sep marks a separator allowed inside a run.
	digits string
	sep    bool
	plus   bool
}

func tokenize(s string) []token {
	var toks []token
	i := 0
	for i < len(s) {
		r := rune(s[i])
		switch {
		case isWordByte(s[i]):
			// A maximal run of ASCII letters, digits and apostrophes: all
			// digits is a group of digits, all letters a word (perhaps a
			// spoken digit); a mix ("1Z999AA1", "3rd") is neither.
			j := i
			letters, digits := false, false
			for j < len(s) && isWordByte(s[j]) {
				if s[j] >= '0' && s[j] <= '9' {
					digits = true
				} else {
					letters = true
				}
				j++
			}
			t := token{text: s[i:j], start: i, end: j}
			switch {
			case digits && !letters:
				t.digits = t.text
			case letters && !digits:
				t.digits = digitWords[strings.ToLower(t.text)]
			}
			toks = append(toks, t)
			i = j
		case r == '-' || r == '.' || r == '(' || r == ')' || r == '/' || r == ',':
			toks = append(toks, token{text: s[i : i+1], start: i, end: i + 1, sep: true})
			i++
		case r == '+':
			toks = append(toks, token{text: "+", start: i, end: i + 1, plus: true})
			i++
		case r == ' ' || r == '\t' || r == '\n':
			i++
		default:
			// Any other character (punctuation, non-ASCII) ends a run.
			_, size := utf8.DecodeRuneInString(s[i:])
			toks = append(toks, token{text: s[i : i+size], start: i, end: i + size})
			i += size
		}
	}
	return toks
}

func isWordByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '\''
}

// run is a maximal sequence of digit tokens, separators allowed between
// them, "double"/"triple" repeating the next spoken digit.
type run struct {
	first, last int    // token indexes
	digits      string // all digits of the run
	groups      []int  // length of each digit group as written
	plus        bool   // starts with "+"
}

func replaceDigitRuns(s string, found *[]Kind) string {
	toks := tokenize(s)
	type repl struct {
		start, end int
		kind       Kind
	}
	var repls []repl
	for i := 0; i < len(toks); {
		r, next, ok := readRun(toks, i)
		if !ok {
			i++
			continue
		}
		if k, ok := classify(r, toks); ok {
			repls = append(repls, repl{toks[r.first].start, toks[r.last].end, k})
		}
		i = next
	}
	if len(repls) == 0 {
		return s
	}
	var b strings.Builder
	prev := 0
	for _, r := range repls {
		b.WriteString(s[prev:r.start])
		b.WriteString(Placeholder(r.kind))
		*found = append(*found, r.kind)
		prev = r.end
	}
	b.WriteString(s[prev:])
	return b.String()
}

// readRun reads the run starting at token i, if one starts there. Each
// digit token is one group: a written group of digits, or one spoken
// digit ("double five" is one group of two).
func readRun(toks []token, i int) (run, int, bool) {
	r := run{first: i}
	j := i
	if toks[j].plus {
		r.plus = true
		j++
	}
	repeat := 1
	lastDigit := -1
	for j < len(toks) {
		t := toks[j]
		lw := strings.ToLower(t.text)
		switch {
		case t.digits != "":
			d := strings.Repeat(t.digits, repeat)
			repeat = 1
			r.groups = append(r.groups, len(d))
			r.digits += d
			lastDigit, r.last = j, j
			j++
		case (lw == "double" || lw == "triple") && j+1 < len(toks) && toks[j+1].digits != "":
			repeat = 2
			if lw == "triple" {
				repeat = 3
			}
			j++
		case t.sep && lastDigit >= 0 && j+1 < len(toks) && (toks[j+1].digits != "" || toks[j+1].sep):
			j++
		case t.text == "(" && lastDigit < 0 && j+1 < len(toks) && toks[j+1].digits != "":
			j++
		default:
			if lastDigit < 0 {
				return run{}, 0, false
			}
			return r, lastDigit + 1, true
		}
	}
	if lastDigit < 0 {
		return run{}, 0, false
	}
	return r, lastDigit + 1, true
}

// classify says what a run of digits is, if it is personal data.
func classify(r run, toks []token) (Kind, bool) {
	n := len(r.digits)
	switch {
	case n >= 13 && n <= 19 && luhn(r.digits) && !r.plus:
		return Card, true
	case n == 9 && (groupedAs(r.groups, 3, 2, 4) || afterSSNWords(toks, r.first)):
		return SSN, true
	case r.plus && n >= 8 && n <= 15:
		return Phone, true
	case n >= 10 && n <= 11 && usPhone(r):
		return Phone, true
	case n >= 12 && n <= 15 && spokenDigits(r):
		// An international number read digit by digit.
		return Phone, true
	}
	return "", false
}

func groupedAs(groups []int, want ...int) bool {
	if len(groups) != len(want) {
		return false
	}
	for i := range want {
		if groups[i] != want[i] {
			return false
		}
	}
	return true
}

// usPhone: 10 digits as 3-3-4 or one group of 10, or 11 starting with 1
// as 1-3-3-4 or one group.
func usPhone(r run) bool {
	switch len(r.digits) {
	case 10:
		return groupedAs(r.groups, 3, 3, 4) || len(r.groups) == 1 || spokenDigits(r)
	case 11:
		return r.digits[0] == '1' && (groupedAs(r.groups, 1, 3, 3, 4) || len(r.groups) == 1 || spokenDigits(r))
	}
	return false
}

// spokenDigits reports whether the run was read out in small groups (a
// recogniser writing "four one five …", "4 1 5 …" or "41 55 …"): at least
// three groups of at most four digits.
func spokenDigits(r run) bool {
	for _, g := range r.groups {
		if g > 4 {
			return false
		}
	}
	return len(r.groups) >= 3
}

// afterSSNWords reports whether "social security" or "SSN" comes within a
// few words before token i.
func afterSSNWords(toks []token, i int) bool {
	for j := max(0, i-6); j < i; j++ {
		w := strings.ToLower(toks[j].text)
		if w == "ssn" || w == "social" && j+1 < len(toks) && strings.ToLower(toks[j+1].text) == "security" {
			return true
		}
	}
	return false
}

// luhn reports whether digits pass the Luhn check, as every card number does.
func luhn(digits string) bool {
	sum := 0
	double := false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}
