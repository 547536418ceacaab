package storage

import "strings"

// Number searches (CallFilter.Number): a full E.164 number, or the last
// digits of one. Four digits at least, so a search cannot ask for a scan
// of nearly every call; an E.164 number has at most 15.
const (
	MinNumberSuffix = 4
	MaxNumberDigits = 15
)

// NormalizeNumber turns a phone number as a person types it ("+1 (415)
// 555-0100", "555 0100") into a CallFilter.Number: "+" and the digits of a
// full number, or the digits of a number's end. Spaces, dots, dashes,
// slashes and parentheses are dropped. ErrInvalid for anything else: other
// characters, fewer than MinNumberSuffix digits or more than
// MaxNumberDigits.
func NormalizeNumber(s string) (string, error) {
	if len(s) > 64 {
		return "", Errorf(ErrInvalid, "a number is at most 64 characters")
	}
	var b strings.Builder
	digits := 0
	for i, r := range strings.TrimSpace(s) {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
			digits++
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == ' ' || r == '.' || r == '-' || r == '/' || r == '(' || r == ')':
		default:
			return "", Errorf(ErrInvalid, "a number has only digits, a leading + and separators")
		}
	}
	switch {
	case digits < MinNumberSuffix:
		return "", Errorf(ErrInvalid, "give a full number (+14155550100) or at least its last %d digits", MinNumberSuffix)
	case digits > MaxNumberDigits:
		return "", Errorf(ErrInvalid, "a number has at most %d digits", MaxNumberDigits)
	}
	return b.String(), nil
}

// MatchNumber reports whether a call's number (its From or To) matches a
// normalized CallFilter.Number: equal to a full number, or ending in the
// digits of a partial one.
func MatchNumber(number, query string) bool {
	if strings.HasPrefix(query, "+") {
		return number == query
	}
	return strings.HasSuffix(number, query)
}
