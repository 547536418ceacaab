package handlers_test

import (
	"net/http"
	"net/url"
	"testing"

	"switchboard/handlers/relaytest"
	"switchboard/handlers/twiliosig"
	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
)

// TestRelayHandshakeSignedURLForm pins the URL Twilio signs on the
// ConversationRelay handshake with a real signature: the one captured from
// Twilio in enola-dev/enola's
// java/dev/enola/audio/voice/twilio/security/SignatureValidatorTest.java
// (token long revoked). It matches "wss://" + host + path exactly as
// connected, with no port and the path's trailing "/", and nothing else.
// Twilio's onboarding page says the handshake carries X-Twilio-Signature
// "validated like normal webhooks"; Twilio's agent SDK
// (twilio/twilio-agent-connect-python, src/tac/server/signature_validation.py)
// signs the wss:// URL without its query string and passes the query's
// pairs as parameters.
func TestRelayHandshakeSignedURLForm(t *testing.T) {
	const token, sig = "c0e4d9d4fff66d194f3101ccd7c3a38c", "CSS4F/5/iw8S6Zkm3aULeNJaVC8="
	for u, want := range map[string]bool{
		"wss://70cd1a93aa44.ngrok-free.app/":     true,
		"wss://70cd1a93aa44.ngrok-free.app":      false,
		"https://70cd1a93aa44.ngrok-free.app/":   false,
		"wss://70cd1a93aa44.ngrok-free.app:443/": false,
	} {
		if got := twiliosig.Sign(token, u, nil) == sig; got != want {
			t.Errorf("signature of %s matches the captured one: %v, want %v", u, got, want)
		}
	}
}

func TestRelayHandshakeRefusedBeforeUpgrade(t *testing.T) {
	in := startRelay(t, nil, nil, nil)
	call, _ := incomingRelayCall(t, in)
	other := twiliotest.NewCall(servicetest.AccountSID)
	for name, tc := range map[string]struct {
		sid, sig string
		want     int
	}{
		"Missing":           {call.CallSID, "", http.StatusForbidden},
		"Forged":            {call.CallSID, "bm90IGEgc2lnbmF0dXJl", http.StatusForbidden},
		"WrongToken":        {call.CallSID, twiliosig.Sign("another-token", socketURL(call.CallSID), nil), http.StatusForbidden},
		"HTTPSScheme":       {call.CallSID, twiliosig.Sign(servicetest.AuthToken, "https://switchboard.example.com/twilio/relay/"+call.CallSID, nil), http.StatusForbidden},
		"AnotherCallsPath":  {call.CallSID, relaytest.Sign(servicetest.AuthToken, socketURL(other.CallSID)), http.StatusForbidden},
		"ValidButNotASID":   {"CA123", relaytest.Sign(servicetest.AuthToken, socketURL("CA123")), http.StatusBadRequest},
		"SignedForInternal": {call.CallSID, relaytest.Sign(servicetest.AuthToken, "ws://127.0.0.1/twilio/relay/"+call.CallSID), http.StatusForbidden},
	} {
		t.Run(name, func(t *testing.T) {
			c, resp, err := dialRelay(t, in, tc.sid, tc.sig)
			if err == nil || c != nil {
				t.Fatal("the socket was upgraded")
			}
			if resp == nil || resp.StatusCode != tc.want {
				t.Fatalf("handshake answered %v, want HTTP %d", resp, tc.want)
			}
		})
	}
	if n := len(in.GetCall(call.CallSID).Turns); n != 1 {
		t.Errorf("refused handshakes changed the call: %d turns", n)
	}

	t.Run("NotAnUpgrade", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, in.URL+"/twilio/relay/"+call.CallSID, nil)
		req.Header.Set("X-Twilio-Signature", relaytest.Sign(servicetest.AuthToken, socketURL(call.CallSID)))
		if r := in.Do(req); r.Status != http.StatusUpgradeRequired {
			t.Errorf("plain GET: %d %s, want 426", r.Status, r.Body)
		}
	})
	t.Run("QueryPairsSignedAsParameters", func(t *testing.T) {
		h := http.Header{}
		h.Set("X-Twilio-Signature", twiliosig.Sign(servicetest.AuthToken, socketURL(call.CallSID), url.Values{"ref": {"abc"}}))
		c, resp, err := relaytest.Dial(t.Context(), "ws"+in.URL[len("http"):]+"/twilio/relay/"+call.CallSID+"?ref=abc", h)
		if err != nil {
			t.Fatalf("handshake with a query: %v (%v)", err, resp)
		}
		_ = c.Close()
	})
}

func TestRelayHandshakeRefusedWithoutStreamingAndWhileDraining(t *testing.T) {
	// Under Lambda no socket can be held: the route answers 404. (An HTTP
	// instance serves sockets whatever CALL_MODE says, as any assistant
	// may stream its calls.)
	lambda := servicetest.Start(t, servicetest.Options{Configure: func(c *service.Config) { c.Serverless = true }})
	call := twiliotest.NewCall(servicetest.AccountSID)
	if _, resp, err := dialRelay(t, lambda, call.CallSID, relaytest.Sign(servicetest.AuthToken, socketURL(call.CallSID))); err == nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("relay socket without streaming: %v, want 404", resp)
	}

	in := startRelay(t, nil, nil, func(c *service.Config) {})
	call, _ = incomingRelayCall(t, in)
	in.Server.Drain()
	if _, resp, err := dialRelay(t, in, call.CallSID, relaytest.Sign(servicetest.AuthToken, socketURL(call.CallSID))); err == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("relay socket while draining: %v, want 503", resp)
	}
}

// TestRelayDrainClosesIdleSockets: a draining instance ends an idle socket
// at once, the way RELAY_DRAIN_CLOSE says: by default without a close
// frame (the client sees 1006, an abnormal closure, as after a lost
// instance), or with 1001 or 1012.
func TestRelayDrainClosesIdleSockets(t *testing.T) {
	for mode, want := range map[string]int{"drop": 1006, "going_away": 1001, "service_restart": 1012} {
		t.Run(mode, func(t *testing.T) {
			in := startRelay(t, nil, nil, func(c *service.Config) { c.Relay.DrainClose = mode })
			_, c := openRelay(t, in)
			in.Server.Drain()
			select {
			case <-c.Closed():
			case <-waitFor(t):
				t.Fatal("an idle socket stayed open after the drain began")
			}
			if code := c.CloseCode(); code != want {
				t.Errorf("close code %d, want %d", code, want)
			}
		})
	}
}
