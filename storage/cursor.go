package storage

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// EncodeCursor returns the opaque ListCalls cursor that continues after the
// call created at t with the given SID. Every CallStore uses this encoding,
// so a cursor stays valid whichever implementation serves the next page.
func EncodeCursor(t time.Time, sid string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(t.UnixMicro(), 10) + "|" + sid))
}

// DecodeCursor reverses EncodeCursor. ErrInvalid for anything else.
func DecodeCursor(c string) (time.Time, string, error) {
	bad := Errorf(ErrInvalid, "malformed cursor")
	if len(c) > 128 {
		return time.Time{}, "", bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", bad
	}
	ts, sid, ok := strings.Cut(string(raw), "|")
	if !ok || !ValidSID(sid, "CA") {
		return time.Time{}, "", bad
	}
	us, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || us < minCursorMicros || us > maxCursorMicros {
		return time.Time{}, "", bad
	}
	return time.UnixMicro(us).UTC(), sid, nil
}

// A cursor's time lies in years 1 to 9999, the range every store (and RFC
// 3339) can represent.
var (
	minCursorMicros = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	maxCursorMicros = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC).UnixMicro()
)
