package storage

import "strings"

// ValidSID reports whether s is a Twilio SID with the given two-letter prefix:
// the prefix followed by 32 hexadecimal digits.
func ValidSID(s, prefix string) bool {
	if len(s) != 34 || !strings.HasPrefix(s, prefix) {
		return false
	}
	for i := 2; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// CheckSID returns an ErrInvalid error naming field unless s is a valid SID
// with the given prefix ("CA" for calls, "RE" for recordings, "AC" for accounts).
func CheckSID(field, s, prefix string) error {
	if !ValidSID(s, prefix) {
		return Errorf(ErrInvalid, "%s must be %s followed by 32 hex digits", field, prefix)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
