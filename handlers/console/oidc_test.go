package console_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/handlers/console"
	"switchboard/handlers/console/albtest"
)

func mustVerifier(t *testing.T, alb *albtest.Issuer, cfg console.OIDCConfig) *console.Verifier {
	t.Helper()
	cfg.ALBARN, cfg.KeyURL = albtest.ARN, alb.KeyURL
	v, err := console.NewVerifier(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerifier(t *testing.T) {
	alb := albtest.New(t)
	v := mustVerifier(t, alb, console.OIDCConfig{AllowedDomains: []string{"example.com"}, AllowedGroups: []string{"call-review"}})
	ctx := context.Background()
	exp := time.Now().Add(time.Minute)

	t.Run("OK", func(t *testing.T) {
		a := alb.Assertion(map[string]any{"sub": "1234", "email": "ada@example.com", "name": "Ada"})
		if !strings.Contains(a, "=") {
			t.Fatalf("the fake's assertion has no padding, unlike the load balancer's: %s", a)
		}
		id, err := v.Verify(ctx, a)
		if err != nil || id != (console.Identity{Subject: "1234", Email: "ada@example.com", Name: "Ada"}) {
			t.Fatalf("Verify = %+v, %v", id, err)
		}
	})
	t.Run("OKDomainAnyCase", func(t *testing.T) {
		if _, err := v.Verify(ctx, alb.Assertion(map[string]any{"sub": "1", "email": "Bob@Example.COM"})); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("OKGroup", func(t *testing.T) {
		if _, err := v.Verify(ctx, alb.Assertion(map[string]any{"sub": "2", "email": "c@partner.example.org", "groups": []string{"staff", "call-review"}})); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("OKGroupAsString", func(t *testing.T) {
		if _, err := v.Verify(ctx, alb.Assertion(map[string]any{"sub": "3", "groups": "staff,call-review"})); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("OKKeyFetchedOnceAndKept", func(t *testing.T) {
		before := alb.Fetches()
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				if _, err := v.Verify(ctx, alb.Assertion(map[string]any{"sub": "4", "email": "d@example.com"})); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if got := alb.Fetches() - before; got != 0 {
			t.Errorf("%d fetches for a key already kept", got)
		}
		alb.Rotate()
		for range 5 {
			if _, err := v.Verify(ctx, alb.Assertion(map[string]any{"sub": "4", "email": "d@example.com"})); err != nil {
				t.Fatal(err)
			}
		}
		if got := alb.Fetches() - before; got != 1 {
			t.Errorf("%d fetches after the key rotated, want 1", got)
		}
	})

	good := map[string]any{"sub": "5", "email": "e@example.com", "exp": exp.Unix()}
	refused := map[string]struct {
		data string
		want error
	}{
		"ErrNoHeader":   {"", console.ErrNoIdentity},
		"ErrNotAllowed": {alb.Assertion(map[string]any{"sub": "6", "email": "mallory@example.net", "groups": []string{"staff"}}), console.ErrNotAllowed},
		"ErrNotAllowedUnverifiedEmail": {alb.Assertion(map[string]any{"sub": "7", "email": "m@example.com", "email_verified": false}),
			console.ErrNotAllowed},
		"ErrDomainSuffixIsNotTheDomain": {alb.Assertion(map[string]any{"sub": "8", "email": "m@evil-example.com"}), console.ErrNotAllowed},
		"ErrExpiredHeader":              {alb.Sign(alb.Header(time.Now().Add(-time.Second)), good), console.ErrBadIdentity},
		"ErrExpiredClaims": {alb.Sign(alb.Header(exp), map[string]any{"sub": "9", "email": "e@example.com", "exp": time.Now().Add(-time.Second).Unix()}),
			console.ErrBadIdentity},
		"ErrOtherSigner": {alb.Sign(with(alb.Header(exp), func(h *albtest.Header) {
			h.Signer = strings.Replace(albtest.ARN, "switchboard", "other", 1)
		}), good), console.ErrBadIdentity},
		"ErrAlgNone":  {alb.Sign(with(alb.Header(exp), func(h *albtest.Header) { h.Alg = "none" }), good), console.ErrBadIdentity},
		"ErrAlgHS256": {alb.Sign(with(alb.Header(exp), func(h *albtest.Header) { h.Alg = "HS256" }), good), console.ErrBadIdentity},
		"ErrUnknownKid": {alb.Sign(with(alb.Header(exp), func(h *albtest.Header) { h.Kid = "00000000-0000-0000-0000-000000000000" }), good),
			console.ErrBadIdentity},
		"ErrKidWithPath":  {alb.Sign(with(alb.Header(exp), func(h *albtest.Header) { h.Kid = "../../x" }), good), console.ErrBadIdentity},
		"ErrChangedClaim": {swapClaims(alb.Assertion(good), alb.Assertion(map[string]any{"sub": "10", "email": "admin@example.com"})), console.ErrBadIdentity},
		"ErrTwoParts":     {"abc.def", console.ErrBadIdentity},
		"ErrNotBase64":    {"a!.b!.c!", console.ErrBadIdentity},
		"ErrOversized":    {strings.Repeat("a", 20<<10) + ".b.c", console.ErrBadIdentity},
		"ErrNoSubject":    {alb.Assertion(map[string]any{"name": "Nobody"}), console.ErrBadIdentity},
	}
	for name, tc := range refused {
		t.Run(name, func(t *testing.T) {
			if _, err := v.Verify(ctx, tc.data); !errors.Is(err, tc.want) {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
		})
	}

	t.Run("ForgedKidsCannotMakeItFetchWithoutLimit", func(t *testing.T) {
		before := alb.Fetches()
		for i := range 50 {
			h := alb.Header(exp)
			h.Kid = "forged-" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + "-" + itoa(i)
			_, _ = v.Verify(ctx, alb.Sign(h, good))
		}
		if got := alb.Fetches() - before; got > 10 {
			t.Errorf("50 forged key ids made %d fetches, want at most 10 a minute", got)
		}
	})
}

func TestVerifierKeyEndpointDown(t *testing.T) {
	alb := albtest.New(t)
	v, err := console.NewVerifier(console.OIDCConfig{ALBARN: albtest.ARN, KeyURL: "http://127.0.0.1:1/", AllowedDomains: []string{"example.com"}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(context.Background(), alb.Assertion(map[string]any{"sub": "1", "email": "a@example.com"}))
	if !errors.Is(err, console.ErrKeys) {
		t.Errorf("Verify with the key endpoint down = %v, want ErrKeys", err)
	}
}

func TestNewVerifierRefusesOtherLoadBalancers(t *testing.T) {
	if _, err := console.NewVerifier(console.OIDCConfig{ALBARN: "arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/net/x/y"}, nil, nil); err == nil {
		t.Error("a Network Load Balancer's ARN was accepted")
	}
}

func with(h albtest.Header, f func(*albtest.Header)) albtest.Header {
	f(&h)
	return h
}

// swapClaims puts the claims of b under the header and signature of a.
func swapClaims(a, b string) string {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	return pa[0] + "." + pb[1] + "." + pa[2]
}

func itoa(i int) string {
	return string(rune('0'+i/10)) + string(rune('0'+i%10))
}
