package console

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func TestSession(t *testing.T) {
	keys := NewKeys([]byte("a shared console session key, 32+ bytes"))
	token := "api-token-0123456789abcdef"
	sess := NewSession(keys.Fingerprint(token), t0, time.Hour)
	cookie := keys.Seal(sess)

	t.Run("OK", func(t *testing.T) {
		got, err := keys.Open(cookie, t0.Add(59*time.Minute))
		if err != nil || got != sess {
			t.Fatalf("Open = %+v, %v; want %+v", got, err, sess)
		}
		if strings.Contains(cookie, token) || strings.Contains(mustDecode(t, cookie), token) {
			t.Errorf("the cookie carries the token: %s", cookie)
		}
	})
	t.Run("OKAnotherInstanceWithTheSameKey", func(t *testing.T) {
		other := NewKeys([]byte("a shared console session key, 32+ bytes"))
		if _, err := other.Open(cookie, t0); err != nil {
			t.Fatalf("another instance refuses the session: %v", err)
		}
		if other.Fingerprint(token) != sess.Fingerprint {
			t.Error("fingerprints differ between instances with one key")
		}
	})
	t.Run("FingerprintsDifferByTokenAndKey", func(t *testing.T) {
		if keys.Fingerprint(token) == keys.Fingerprint(token+"x") {
			t.Error("two tokens share a fingerprint")
		}
		if NewKeys([]byte("another key, also long enough....")).Fingerprint(token) == sess.Fingerprint {
			t.Error("two keys give one fingerprint")
		}
	})

	refused := map[string]struct {
		cookie string
		at     time.Time
		want   error
	}{
		"ErrNoSession":         {"", t0, ErrNoSession},
		"ErrExpired":           {cookie, t0.Add(time.Hour), ErrExpiredSession},
		"ErrOtherKey":          {NewKeys([]byte("another key, also long enough....")).Seal(sess), t0, ErrBadSession},
		"ErrChangedPayload":    {reseal(t, cookie, `"exp":`+strconv.FormatInt(t0.Add(time.Hour).Unix(), 10), `"exp":`+strconv.FormatInt(t0.Add(1000*time.Hour).Unix(), 10)), t0, ErrBadSession},
		"ErrNoSignature":       {cookie[:strings.LastIndexByte(cookie, '.')], t0, ErrBadSession},
		"ErrEmptySignature":    {cookie[:strings.LastIndexByte(cookie, '.')+1], t0, ErrBadSession},
		"ErrOtherVersion":      {"v2" + cookie[2:], t0, ErrBadSession},
		"ErrOversized":         {cookie + strings.Repeat("A", maxCookie), t0, ErrBadSession},
		"ErrGarbage":           {"v1.!!!.???", t0, ErrBadSession},
		"ErrSignedButNotJSON":  {signed(keys, "v1."+base64.RawURLEncoding.EncodeToString([]byte("nope"))), t0, ErrBadSession},
		"ErrSignedWithoutCSRF": {signed(keys, "v1."+base64.RawURLEncoding.EncodeToString([]byte(`{"fp":"x","exp":9999999999}`))), t0, ErrBadSession},
	}
	for name, tc := range refused {
		t.Run(name, func(t *testing.T) {
			if _, err := keys.Open(tc.cookie, tc.at); !errors.Is(err, tc.want) {
				t.Errorf("Open = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSignInNonce(t *testing.T) {
	keys := NewKeys([]byte("a shared console session key, 32+ bytes"))
	nonce, cookie := keys.SignInNonce(t0, time.Hour)
	if !keys.CheckSignInNonce(cookie, nonce, t0.Add(time.Minute)) {
		t.Error("the nonce its cookie vouches for is refused")
	}
	other, _ := keys.SignInNonce(t0, time.Hour)
	for name, ok := range map[string]bool{
		"OtherNonce":     keys.CheckSignInNonce(cookie, other, t0),
		"NoNonce":        keys.CheckSignInNonce(cookie, "", t0),
		"NoCookie":       keys.CheckSignInNonce("", nonce, t0),
		"Expired":        keys.CheckSignInNonce(cookie, nonce, t0.Add(time.Hour)),
		"SessionAsNonce": keys.CheckSignInNonce(keys.Seal(NewSession("fp", t0, time.Hour)), nonce, t0),
	} {
		if ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestOIDCToken(t *testing.T) {
	keys := NewKeys([]byte("a shared console session key, 32+ bytes"))
	a, b := keys.OIDCToken("oidc:alice"), keys.OIDCToken("oidc:bob")
	if a == b || a != keys.OIDCToken("oidc:alice") || a == NewKeys([]byte("another key, also long enough....")).OIDCToken("oidc:alice") {
		t.Errorf("tokens: alice %q, bob %q", a, b)
	}
	if SameToken("", "") || SameToken(a, "") || !SameToken(a, a) {
		t.Error("SameToken accepts an empty or wrong token, or refuses the right one")
	}
}

func mustDecode(t *testing.T, cookie string) string {
	t.Helper()
	parts := strings.Split(cookie, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// reseal changes the payload of a cookie and keeps its old signature.
func reseal(t *testing.T, cookie, old, new string) string {
	t.Helper()
	body := mustDecode(t, cookie)
	if !strings.Contains(body, old) {
		t.Fatalf("payload %s lacks %s", body, old)
	}
	sig := cookie[strings.LastIndexByte(cookie, '.'):]
	return "v1." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(body, old, new, 1))) + sig
}

func signed(k *Keys, payload string) string { return payload + "." + k.sign(payload) }
