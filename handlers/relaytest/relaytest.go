// Package relaytest is a fake Twilio ConversationRelay client: a real
// WebSocket client that connects as Twilio does (X-Twilio-Signature on the
// handshake), sends the messages Twilio sends (setup, prompt, interrupt,
// dtmf, info) and reads what the application answers (text, end, …). The
// message shapes follow Twilio's "WebSocket messages" page for
// ConversationRelay. Tests and the terminal call simulator use it.
package relaytest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"

	"switchboard/handlers/twiliosig"
)

// Frame is one message the application sent.
type Frame struct {
	Type        string `json:"type"`
	Token       string `json:"token"`
	Last        bool   `json:"last"`
	HandoffData string `json:"handoffData"`
	// At is when the client read it.
	At time.Time `json:"-"`
	// Raw is the message as received.
	Raw []byte `json:"-"`
}

// Client is one ConversationRelay socket, seen from Twilio's side.
type Client struct {
	conn   *websocket.Conn
	frames chan Frame
	wmu    sync.Mutex

	texts atomic.Int64 // text frames received

	mu     sync.Mutex
	err    error // why reading stopped
	closed chan struct{}
}

// Sign returns the X-Twilio-Signature Twilio sends on the handshake to
// socketURL: the signature of the wss:// URL it connects to (see
// handlers.relayHandshake for the rule and its sources).
func Sign(authToken, socketURL string) string {
	return twiliosig.Sign(authToken, socketURL, nil)
}

// Dial connects to dialURL (ws://127.0.0.1:port/twilio/relay/CA…) sending
// header (X-Twilio-Signature among it). On a refused handshake it returns
// the HTTP response, whose status says why.
func Dial(ctx context.Context, dialURL string, header http.Header) (*Client, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	conn, resp, err := d.DialContext(ctx, dialURL, header)
	if err != nil {
		return nil, resp, err
	}
	c := &Client{conn: conn, frames: make(chan Frame, 1024), closed: make(chan struct{})}
	go c.read()
	return c, resp, nil
}

func (c *Client) read() {
	defer close(c.frames)
	defer close(c.closed)
	for {
		_, b, err := c.conn.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		var f Frame
		if json.Unmarshal(b, &f) != nil {
			f = Frame{Type: "unparsable"}
		}
		f.At, f.Raw = time.Now(), b
		if f.Type == "text" {
			c.texts.Add(1)
		}
		c.frames <- f
	}
}

// CloseCode is the close code the application sent, once the socket is
// closed: 1006 (abnormal closure, RFC 6455 §7.1.5) when the connection
// ended without a close frame; -1 while it is open.
func (c *Client) CloseCode() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ce *websocket.CloseError
	switch {
	case c.err == nil:
		return -1
	case errors.As(c.err, &ce):
		return ce.Code
	}
	return websocket.CloseAbnormalClosure
}

// Closed is closed when the socket is.
func (c *Client) Closed() <-chan struct{} { return c.closed }

// Send writes one message as JSON.
func (c *Client) Send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.SendRaw(websocket.TextMessage, b)
}

// SendRaw writes one frame of type typ (a websocket message type: text,
// binary, ping, …) as given, however malformed.
func (c *Client) SendRaw(typ int, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if typ == websocket.PingMessage || typ == websocket.PongMessage || typ == websocket.CloseMessage {
		return c.conn.WriteControl(typ, b, time.Now().Add(10*time.Second))
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.conn.WriteMessage(typ, b)
}

// Setup sends the setup message Twilio sends first.
func (c *Client) Setup(callSID, accountSID, from, to string) error {
	return c.Send(map[string]any{
		"type": "setup", "sessionId": "VX" + strings.Repeat("0", 32), "accountSid": accountSID,
		"parentCallSid": "", "callSid": callSID, "from": from, "to": to, "forwardedFrom": "",
		"callType": "PSTN", "callerName": "", "direction": "inbound", "callStatus": "RINGING",
		"customParameters": map[string]string{},
	})
}

// Prompt sends the caller's recognised words as a final prompt.
func (c *Client) Prompt(words string) error {
	return c.Send(map[string]any{"type": "prompt", "voicePrompt": words, "lang": "en-US", "last": true})
}

// Interrupt says the caller talked over the reply after hearing heard.
func (c *Client) Interrupt(heard string, afterMS int) error {
	return c.Send(map[string]any{"type": "interrupt", "utteranceUntilInterrupt": heard, "durationUntilInterruptMs": afterMS})
}

// Next returns the next frame, or an error when none comes within timeout
// or the socket closed.
func (c *Client) Next(timeout time.Duration) (Frame, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case f, ok := <-c.frames:
		if !ok {
			return Frame{}, fmt.Errorf("socket closed (code %d)", c.CloseCode())
		}
		return f, nil
	case <-t.C:
		return Frame{}, fmt.Errorf("no frame within %s", timeout)
	}
}

// Reply reads text frames until one with last set (or an end message) and
// returns the tokens joined and every frame read.
func (c *Client) Reply(timeout time.Duration) (string, []Frame, error) {
	var b strings.Builder
	var frames []Frame
	deadline := time.Now().Add(timeout)
	for {
		f, err := c.Next(time.Until(deadline))
		if err != nil {
			return b.String(), frames, err
		}
		frames = append(frames, f)
		switch f.Type {
		case "text":
			b.WriteString(f.Token)
			if f.Last {
				return b.String(), frames, nil
			}
		case "end":
			return b.String(), frames, nil
		}
	}
}

// Close closes the socket as Twilio does at the end of a session.
func (c *Client) Close() error {
	c.wmu.Lock()
	_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.wmu.Unlock()
	return c.conn.Close()
}

// Abort drops the connection without a close frame, as a network failure
// would.
func (c *Client) Abort() error { return c.conn.NetConn().Close() }
