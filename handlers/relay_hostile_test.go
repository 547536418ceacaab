package handlers_test

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"switchboard/assistant"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
)

// A signed socket can still misbehave: Twilio's bugs, or a leaked token.
// Each misbehaving socket is closed with a code saying why, and a healthy
// call on the same instance goes on undisturbed.

func fastScripted() *assistant.Scripted {
	s := assistant.NewScripted()
	s.WordDelay = 0
	s.MaxTurns = 0
	return s
}

func TestRelayHostileSocketsAreClosedAlone(t *testing.T) {
	in := startRelay(t, fastScripted(), nil, func(c *service.Config) {
		c.Relay.MaxMessageBytes = 4096
		c.Relay.MaxMessagesPerSecond = 20
	})
	// A healthy call talks throughout.
	_, healthy := openRelay(t, in)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if text, _ := ask(t, healthy, "What are your opening hours?"); text == "" {
				t.Error("the healthy call got an empty reply")
				return
			}
			// Well under the rate limit, however long the attacks take.
			time.Sleep(100 * time.Millisecond)
		}
	})

	for name, tc := range map[string]struct {
		send func(c interface {
			SendRaw(int, []byte) error
		}) error
		code int
	}{
		"Oversized": {func(c interface{ SendRaw(int, []byte) error }) error {
			return c.SendRaw(websocket.TextMessage, []byte(`{"type":"prompt","voicePrompt":"`+strings.Repeat("a", 5000)+`","last":true}`))
		}, websocket.CloseMessageTooBig},
		"NotJSON": {func(c interface{ SendRaw(int, []byte) error }) error {
			return c.SendRaw(websocket.TextMessage, []byte(`{"type":"prompt","voicePrompt":`))
		}, websocket.CloseInvalidFramePayloadData},
		"NoType": {func(c interface{ SendRaw(int, []byte) error }) error {
			return c.SendRaw(websocket.TextMessage, []byte(`{"voicePrompt":"hi"}`))
		}, websocket.CloseInvalidFramePayloadData},
		"WrongFieldType": {func(c interface{ SendRaw(int, []byte) error }) error {
			return c.SendRaw(websocket.TextMessage, []byte(`{"type":"prompt","voicePrompt":42}`))
		}, websocket.CloseInvalidFramePayloadData},
		"Binary": {func(c interface{ SendRaw(int, []byte) error }) error {
			return c.SendRaw(websocket.BinaryMessage, []byte{0, 1, 2})
		}, websocket.CloseUnsupportedData},
		"Flood": {func(c interface{ SendRaw(int, []byte) error }) error {
			for range 200 {
				if err := c.SendRaw(websocket.TextMessage, []byte(`{"type":"info","name":"x"}`)); err != nil {
					return nil // closed while flooding
				}
			}
			return nil
		}, websocket.ClosePolicyViolation},
		"PingFlood": {func(c interface{ SendRaw(int, []byte) error }) error {
			for range 200 {
				if err := c.SendRaw(websocket.PingMessage, []byte("p")); err != nil {
					return nil
				}
			}
			return nil
		}, websocket.ClosePolicyViolation},
		"SetupForAnotherCall": {func(c interface{ SendRaw(int, []byte) error }) error {
			return c.SendRaw(websocket.TextMessage, []byte(`{"type":"setup","callSid":"CA`+strings.Repeat("9", 32)+`","accountSid":"`+servicetest.AccountSID+`"}`))
		}, websocket.ClosePolicyViolation},
	} {
		t.Run(name, func(t *testing.T) {
			_, c := openRelay(t, in)
			if err := tc.send(c); err != nil {
				t.Fatalf("sending: %v", err)
			}
			select {
			case <-c.Closed():
			case <-waitFor(t):
				t.Fatal("the socket stayed open")
			}
			if code := c.CloseCode(); code != tc.code {
				t.Errorf("close code %d, want %d", code, tc.code)
			}
		})
	}
	close(stop)
	wg.Wait()
	if text, _ := ask(t, healthy, "Where are you located?"); !strings.Contains(text, "Main Street") {
		t.Errorf("healthy call after the attacks: %q", text)
	}
}

func TestRelayUnknownMessagesAreIgnored(t *testing.T) {
	in := startRelay(t, fastScripted(), nil, nil)
	_, c := openRelay(t, in)
	for _, raw := range []string{
		`{"type":"mystery","payload":{"deep":[1,2,3]}}`,
		`{"type":"info","name":"tokensPlayed","value":"12"}`,
		`{"type":"dtmf","digit":"5"}`,
		`{"type":"error","description":"Invalid message received: {}"}`,
		`{"type":"prompt","voicePrompt":"wait","last":false}`,
		`{"type":"prompt","voicePrompt":"   ","last":true}`,
		`{"type":"interrupt","utteranceUntilInterrupt":"","durationUntilInterruptMs":"460"}`,
	} {
		if err := c.SendRaw(websocket.TextMessage, []byte(raw)); err != nil {
			t.Fatalf("sending %s: %v", raw, err)
		}
	}
	if text, _ := ask(t, c, "What are your opening hours?"); !strings.Contains(text, "Monday") {
		t.Errorf("reply after ignorable messages = %q", text)
	}
}

func TestRelaySilentAndSlowPeersTimeOut(t *testing.T) {
	in := startRelay(t, fastScripted(), nil, func(c *service.Config) { c.Relay.PingInterval = 50 * time.Millisecond })
	call, _ := incomingRelayCall(t, in)

	t.Run("NeverReads", func(t *testing.T) {
		// A raw client that never reads never answers pings.
		h := map[string][]string{"X-Twilio-Signature": {relaySig(call.CallSID)}}
		conn, _, err := websocket.DefaultDialer.Dial("ws"+in.URL[len("http"):]+"/twilio/relay/"+call.CallSID, h)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		waitClosed(t, conn.NetConn())
	})
	t.Run("DribblesAFrame", func(t *testing.T) {
		// One byte of a frame header, then nothing.
		h := map[string][]string{"X-Twilio-Signature": {relaySig(call.CallSID)}}
		conn, _, err := websocket.DefaultDialer.Dial("ws"+in.URL[len("http"):]+"/twilio/relay/"+call.CallSID, h)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.NetConn().Write([]byte{0x81}); err != nil {
			t.Fatal(err)
		}
		waitClosed(t, conn.NetConn())
	})
	servicetest.Eventually(t, 10*time.Second, "timeouts to be counted", func() bool {
		return metricSum(t, in.Registry, "switchboard_relay_sessions_closed_total", map[string]string{"reason": "timeout"}) >= 2
	})
}

func relaySig(sid string) string {
	return relaytestSign(socketURL(sid))
}

// waitClosed waits until the server closes conn.
func waitClosed(t *testing.T, conn net.Conn) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	for {
		if _, err := conn.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the server kept the socket open")
			}
			return
		}
	}
}
