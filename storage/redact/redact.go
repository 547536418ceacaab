// Package redact finds personal data in what callers and assistants say —
// card numbers, US social security numbers, e-mail addresses and phone
// numbers — and replaces each with the name of its kind ("[card]"), so
// that transcripts, summaries, analysis fields, tool-call arguments, event
// payloads and logs keep what was said without the data itself.
//
// Speech arrives as text from a recogniser: digits may be written ("4111
// 1111 1111 1111", "4111-1111-…") or spelt out ("four one one one …", "oh"
// for zero, "double five"), and an address may be spoken ("jane dot doe at
// example dot com", "jane at example.com"). Runs of digits are classified
// by their length and shape: 13–19 digits that pass the Luhn check are a
// card (a number of that length that fails it is left alone: an order or
// tracking number); nine digits grouped 3-2-4, or following the words
// "social security" or "SSN", are an SSN. A phone number is a + and 8–15
// digits; 10 digits (11 starting with a 1) written as 3-3-4, in one group
// or read out in small groups, parentheses allowed; 10–11 digits starting
// with a trunk 0 in at most three groups ("07700 900123"); a local 3-4
// number ("555-0132"); or 11–15 digits read out in groups of at most four
// — unless the words just before name it an order, invoice, reference or
// the like. Shorter runs — prices, times, years, counts, house numbers —
// and amounts written with thousands separators ("1,234,567") are never
// touched.
//
// A comma or full stop followed by a space ends a sentence or a list item
// more often than it separates digits, so a run joined that way is taken
// whole only when it is read digit by digit ("4, 1, 5, …") or has the
// exact grouping of its kind (4-4-4-4 for a card); otherwise each piece
// between such separators is judged alone ("2019, 2020, 2021" is three
// years, not a phone number).
package redact

import (
	"regexp"
	"slices"
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

// Kinds are every kind, in a fixed order.
var Kinds = []Kind{Card, SSN, Email, Phone}

// Placeholder is what replaces data of kind k.
func Placeholder(k Kind) string { return "[" + string(k) + "]" }

// span is one piece of personal data found: s[start:end] is of kind.
type span struct {
	start, end int
	kind       Kind
}

// Text returns s with every card number, SSN, e-mail address and phone
// number replaced by its placeholder, and the kinds replaced, in order of
// appearance (a kind once per occurrence). Text of its own output finds
// nothing more.
func Text(s string) (string, []Kind) {
	if s == "" {
		return s, nil
	}
	spans := emailSpans(s)
	spans = append(spans, digitSpans(s, spans)...)
	if len(spans) == 0 {
		return s, nil
	}
	slices.SortFunc(spans, func(a, b span) int { return a.start - b.start })
	var b strings.Builder
	b.Grow(len(s))
	kinds := make([]Kind, 0, len(spans))
	prev := 0
	for _, sp := range spans {
		b.WriteString(s[prev:sp.start])
		b.WriteString(Placeholder(sp.kind))
		kinds = append(kinds, sp.kind)
		prev = sp.end
	}
	b.WriteString(s[prev:])
	return b.String(), kinds
}

// String is Text without the kinds.
func String(s string) string {
	out, _ := Text(s)
	return out
}

var (
	writtenEmail = regexp.MustCompile(`(?i)[a-z0-9._%+\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.[a-z]{2,}\b`)
	// A spoken address: "jane dot doe at example dot com", the domain with at
	// least one "dot" and a known top-level word. Group 1 is the word just
	// before "at".
	spokenEmail = regexp.MustCompile(`(?i)\b` + localPrefix + `([a-z0-9]+)\s+at\s+[a-z0-9\-]+(?:\s+dot\s+[a-z0-9\-]+)*\s+dot\s+(?:` + tlds + `)\b`)
	// A spoken local part with a written domain, as recognisers often
	// write it: "jane doe at example.com".
	halfSpokenEmail = regexp.MustCompile(`(?i)\b` + localPrefix + `([a-z0-9]+)\s+at\s+[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.(?:` + tlds + `)\b`)
)

// localPrefix is the start of a local part, spoken or written, up to its
// last word: "jane dot doe", "jane.doe".
const localPrefix = `(?:[a-z0-9]+(?:\s+(?:dot|underscore|dash|hyphen)\s+|[._\-]))*`

const tlds = `com|net|org|edu|gov|io|co|uk|de|fr|es|it|nl|ca|au|info|biz|us|me`

// notLocalPart are words that come before "at" and a domain without being
// an address: "look at example.com", "visit us at example dot com".
var notLocalPart = map[string]bool{
	"look": true, "looking": true, "looked": true, "us": true, "me": true, "it": true, "them": true,
	"him": true, "her": true, "online": true, "site": true, "website": true, "page": true,
	"here": true, "there": true, "is": true, "are": true, "was": true, "found": true,
	"available": true, "directly": true, "or": true, "and": true, "go": true, "visit": true,
	"web": true, "shop": true, "order": true, "ordered": true, "bought": true, "booked": true,
}

// emailSpans finds the addresses in s, written or spoken, without overlaps.
func emailSpans(s string) []span {
	var spans []span
	overlaps := func(a, b int) bool {
		for _, sp := range spans {
			if a < sp.end && sp.start < b {
				return true
			}
		}
		return false
	}
	// The expressions are most of the cost of Text: skipped when what
	// they need to match is absent.
	if strings.IndexByte(s, '@') >= 0 {
		for _, m := range writtenEmail.FindAllStringIndex(s, -1) {
			spans = append(spans, span{m[0], m[1], Email})
		}
	}
	if !hasWordAt(s) {
		return spans
	}
	var spoken []*regexp.Regexp
	if hasWord(s, "dot") {
		spoken = append(spoken, spokenEmail)
	}
	if strings.IndexByte(s, '.') >= 0 {
		spoken = append(spoken, halfSpokenEmail)
	}
	for _, re := range spoken {
		for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
			if notLocalPart[strings.ToLower(s[m[2]:m[3]])] || overlaps(m[0], m[1]) {
				continue
			}
			spans = append(spans, span{m[0], m[1], Email})
		}
	}
	return spans
}

// hasWordAt reports whether s has the word "at" (any case) between
// spaces, as every spoken address does.
func hasWordAt(s string) bool { return hasWord(s, "at") }

// hasWord reports whether s has the lower-case ASCII word w, in any case,
// between white space.
func hasWord(s, w string) bool {
	for i := 1; i+len(w) < len(s); i++ {
		if isSpace(s[i-1]) && isSpace(s[i+len(w)]) && strings.EqualFold(s[i:i+len(w)], w) {
			return true
		}
	}
	return false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' }

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
	// not part of one); sep marks a separator allowed inside a run, loose
	// one that may as well end a sentence or list item.
	digits string
	sep    bool
	loose  bool
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
			t := token{text: s[i : i+1], start: i, end: i + 1, sep: true}
			t.loose = (r == ',' || r == '.') && (i+1 == len(s) || s[i+1] == ' ' || s[i+1] == '\t' || s[i+1] == '\n')
			toks = append(toks, t)
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
	// starts and ends are each group's first and last token; loose[i]
	// marks a loose separator before group i, and joins[i] is the
	// separators written between group i-1 and group i ("" for spaces
	// only, "double" when a repeat starts it).
	starts, ends []int
	loose        []bool
	joins        []string
	plus         bool // starts with "+"
}

// thousands reports whether the run is an amount written with thousands
// separators ("1,234,567"): groups after a first of one to three digits
// are three digits each, every one after a comma with no space.
func (r run) thousands() bool {
	if len(r.groups) < 2 || r.groups[0] > 3 {
		return false
	}
	for i := 1; i < len(r.groups); i++ {
		if r.groups[i] != 3 || r.joins[i] != "," || r.loose[i] {
			return false
		}
	}
	return true
}

// digitSpans finds the card numbers, SSNs and phone numbers of s outside
// the given e-mail spans.
func digitSpans(s string, emails []span) []span {
	toks := tokenize(s)
	// Tokens inside an address were replaced with it already: they end
	// runs instead of joining them.
	for i := range toks {
		for _, e := range emails {
			if toks[i].start < e.end && e.start < toks[i].end {
				toks[i] = token{text: toks[i].text, start: toks[i].start, end: toks[i].end}
			}
		}
	}
	var spans []span
	for i := 0; i < len(toks); {
		r, next, ok := readRun(toks, i)
		if !ok {
			i++
			continue
		}
		for _, sub := range judge(r, toks) {
			spans = append(spans, span{toks[sub.first].start, toks[sub.last].end, sub.kind})
		}
		i = next
	}
	return spans
}

// found is a run, or a piece of one, found to be personal data.
type found struct {
	first, last int
	kind        Kind
}

// judge classifies a run: whole, or piece by piece between its loose
// separators (see the package comment).
func judge(r run, toks []token) []found {
	k, ok := classify(r, toks)
	loose := slices.Contains(r.loose, true)
	if ok && (!loose || smallGroups(r) || canonical(r, k)) {
		return []found{{r.first, r.last, k}}
	}
	if !loose {
		return nil
	}
	var out []found
	a := 0
	for b := 1; b <= len(r.groups); b++ {
		if b < len(r.groups) && !r.loose[b] {
			continue
		}
		piece := r.slice(a, b)
		if k, ok := classify(piece, toks); ok {
			out = append(out, found{piece.first, piece.last, k})
		}
		a = b
	}
	return out
}

// slice is the run of groups a to b-1.
func (r run) slice(a, b int) run {
	p := run{first: r.starts[a], last: r.ends[b-1], plus: r.plus && a == 0}
	for g := a; g < b; g++ {
		p.groups = append(p.groups, r.groups[g])
		p.starts, p.ends = append(p.starts, r.starts[g]), append(p.ends, r.ends[g])
		p.loose = append(p.loose, g > a && r.loose[g])
		join := r.joins[g]
		if g == a {
			join = ""
		}
		p.joins = append(p.joins, join)
	}
	off := 0
	for g := range a {
		off += r.groups[g]
	}
	n := 0
	for g := a; g < b; g++ {
		n += r.groups[g]
	}
	p.digits = r.digits[off : off+n]
	return p
}

// smallGroups: read digit by digit (groups of one or two), which a
// recogniser may punctuate with commas.
func smallGroups(r run) bool {
	for _, g := range r.groups {
		if g > 2 {
			return false
		}
	}
	return len(r.groups) >= 3
}

// canonical: grouped exactly as its kind is written.
func canonical(r run, k Kind) bool {
	switch k {
	case Card:
		return groupedAs(r.groups, 4, 4, 4, 4) || groupedAs(r.groups, 4, 6, 5) || groupedAs(r.groups, 4, 4, 4, 4, 3)
	case SSN:
		return groupedAs(r.groups, 3, 2, 4)
	case Phone:
		return groupedAs(r.groups, 3, 3, 4) || groupedAs(r.groups, 1, 3, 3, 4)
	}
	return false
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
	repeat, groupStart := 1, -1
	lastDigit := -1
	looseNext, joinNext := false, ""
	for j < len(toks) {
		t := toks[j]
		lw := strings.ToLower(t.text)
		switch {
		case t.digits != "":
			d := strings.Repeat(t.digits, repeat)
			repeat = 1
			start := j
			if groupStart >= 0 {
				start = groupStart
			}
			if r.plus && len(r.groups) == 0 {
				start = r.first
			}
			groupStart = -1
			r.groups = append(r.groups, len(d))
			r.starts, r.ends = append(r.starts, start), append(r.ends, j)
			r.loose, r.joins = append(r.loose, looseNext), append(r.joins, joinNext)
			looseNext, joinNext = false, ""
			r.digits += d
			lastDigit, r.last = j, j
			j++
		case (lw == "double" || lw == "triple") && j+1 < len(toks) && toks[j+1].digits != "":
			repeat = 2
			if lw == "triple" {
				repeat = 3
			}
			groupStart = j
			joinNext += "double"
			j++
		case t.sep && lastDigit >= 0 && j+1 < len(toks) && (toks[j+1].digits != "" || toks[j+1].sep):
			looseNext = looseNext || t.loose
			joinNext += t.text
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
	if r.thousands() {
		return "", false
	}
	switch {
	case n >= 13 && n <= 19 && luhn(r.digits) && !r.plus:
		return Card, true
	case n == 9 && (groupedAs(r.groups, 3, 2, 4) || afterWords(toks, r.first, 6, ssnWords)):
		return SSN, true
	}
	if afterWords(toks, r.first, 3, referenceWords) {
		return "", false
	}
	switch {
	case r.plus && n >= 8 && n <= 15:
		return Phone, true
	case n >= 10 && n <= 11 && usPhone(r):
		return Phone, true
	case (n == 10 || n == 11) && r.digits[0] == '0' && len(r.groups) <= 3:
		// A national number with its trunk prefix, as in most of Europe:
		// "07700 900123", "020 7946 0018".
		return Phone, true
	case n == 7 && groupedAs(r.groups, 3, 4):
		// A local number: "555-0132".
		return Phone, true
	case n >= 11 && n <= 15 && spokenDigits(r):
		// An international number read digit by digit.
		return Phone, true
	}
	return "", false
}

func groupedAs(groups []int, want ...int) bool {
	return slices.Equal(groups, want)
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

// ssnWords and referenceWords are what come just before a run of digits
// to say what it is: an SSN, or a number of the business's (an order, an
// invoice) that looks like a phone number and is not personal data.
var (
	ssnWords       = map[string]bool{"ssn": true, "social": true}
	referenceWords = map[string]bool{
		"order": true, "invoice": true, "reference": true, "ref": true, "tracking": true,
		"confirmation": true, "booking": true, "ticket": true, "reservation": true,
		"receipt": true, "serial": true,
	}
)

// afterWords reports whether one of words comes within the n tokens
// before token i.
func afterWords(toks []token, i, n int, words map[string]bool) bool {
	for j := max(0, i-n); j < i; j++ {
		if words[strings.ToLower(toks[j].text)] {
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
