package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"

	"switchboard/handlers/twiliosig"
	"switchboard/storage"
)

// Call modes (CALL_MODE).
const (
	// ModeGather answers each caller turn with a <Gather> webhook.
	ModeGather = "gather"
	// ModeRelay streams the call over a ConversationRelay WebSocket.
	ModeRelay = "relay"
)

// RelayConfig shapes streamed (ConversationRelay) calls. The defaults are
// the env tags; Validate reports every problem at once.
type RelayConfig struct {
	// TTSProvider, Voice and TranscriptionProvider are the
	// <ConversationRelay> attributes of the same names.
	TTSProvider           string `env:"RELAY_TTS_PROVIDER" envDefault:"Amazon"`
	Voice                 string `env:"RELAY_VOICE" envDefault:"Joanna-Neural"`
	TranscriptionProvider string `env:"RELAY_TRANSCRIPTION_PROVIDER" envDefault:"Deepgram"`
	// MaxMessageBytes bounds one message from Twilio: a larger one closes
	// the socket (1009).
	MaxMessageBytes int `env:"RELAY_MAX_MESSAGE_BYTES" envDefault:"16384"`
	// MaxMessagesPerSecond bounds the message rate (a burst of twice as
	// many is allowed); a faster sender is closed (1008).
	MaxMessagesPerSecond int `env:"RELAY_MAX_MESSAGES_PER_SECOND" envDefault:"50"`
	// PingInterval is how often the socket is pinged; a peer silent (no
	// message, no pong) for 2.5 intervals is closed.
	PingInterval time.Duration `env:"RELAY_PING_INTERVAL" envDefault:"20s"`
	// WriteTimeout bounds one write: a peer that stops reading is closed
	// instead of holding the session.
	WriteTimeout time.Duration `env:"RELAY_WRITE_TIMEOUT" envDefault:"5s"`
	// MaxSessions bounds the sockets one instance holds; more are refused
	// with 503 before upgrading.
	MaxSessions int `env:"RELAY_MAX_SESSIONS" envDefault:"2000"`
	// ApplicationReconnect sets applicationReconnect="true" on
	// <ConversationRelay>: Twilio then reconnects a socket that drops
	// unexpectedly, through the load balancer to any instance, and replays
	// the events it buffered (changelog 2026-10-28,
	// https://www.twilio.com/en-us/changelog/conversation-relay--dynamic-configuration--application-reconnect).
	// Draining instances rely on it to move live calls.
	ApplicationReconnect bool `env:"RELAY_APPLICATION_RECONNECT" envDefault:"true"`
	// ResumeAfter is how long a socket that takes over a call whose last
	// caller turn is unanswered waits for Twilio's replayed events before
	// answering that turn itself (see relay_takeover.go).
	ResumeAfter time.Duration `env:"RELAY_RESUME_AFTER" envDefault:"400ms"`
	// DrainClose is how a draining instance ends its sockets: "drop" closes
	// the connection without a close frame, the unexpected drop that
	// applicationReconnect recovers from; "going_away" (1001) and
	// "service_restart" (1012) send that close code first (see
	// relay_drain.go).
	DrainClose string `env:"RELAY_DRAIN_CLOSE" envDefault:"drop"`
	// DrainTalkWait bounds how long a draining socket waits for the reply
	// in progress to finish before it is dropped anyway.
	DrainTalkWait time.Duration `env:"RELAY_DRAIN_TALK_WAIT" envDefault:"8s"`
	// DrainCallWait bounds how long a draining instance without
	// applicationReconnect waits for its streamed calls to end before it
	// drops them (their <Connect action> then continues them with <Gather>
	// on another instance).
	// The default fits the deployment's stop timeout (deploy/terraform's
	// invariants); a longer wait needs TimeoutStopSec and the target
	// group's deregistration delay raised with it.
	DrainCallWait time.Duration `env:"RELAY_DRAIN_CALL_WAIT" envDefault:"25s"`
	// FallbackAfterErrors is how many error messages from Twilio (a speech
	// provider failing, for one) end the session so the call continues
	// with <Gather>.
	FallbackAfterErrors int `env:"RELAY_FALLBACK_AFTER_ERRORS" envDefault:"3"`
}

// Validate reports every problem with the relay settings at once.
func (c RelayConfig) Validate() error {
	var errs []error
	// The providers <ConversationRelay> accepts (its TwiML page).
	if !slices.Contains([]string{"Google", "Amazon", "ElevenLabs"}, c.TTSProvider) {
		errs = append(errs, fmt.Errorf("RELAY_TTS_PROVIDER must be Google, Amazon or ElevenLabs, got %q", c.TTSProvider))
	}
	if !slices.Contains([]string{"Google", "Deepgram"}, c.TranscriptionProvider) {
		errs = append(errs, fmt.Errorf("RELAY_TRANSCRIPTION_PROVIDER must be Google or Deepgram, got %q", c.TranscriptionProvider))
	}
	if strings.TrimSpace(c.Voice) == "" || len(c.Voice) > 100 {
		errs = append(errs, errors.New("RELAY_VOICE must be a voice name of at most 100 characters"))
	}
	if c.MaxMessageBytes < 1024 || c.MaxMessageBytes > 1<<20 {
		errs = append(errs, fmt.Errorf("RELAY_MAX_MESSAGE_BYTES must be from 1024 to 1048576, got %d", c.MaxMessageBytes))
	}
	if c.MaxMessagesPerSecond < 1 || c.MaxMessagesPerSecond > 10000 {
		errs = append(errs, fmt.Errorf("RELAY_MAX_MESSAGES_PER_SECOND must be from 1 to 10000, got %d", c.MaxMessagesPerSecond))
	}
	if c.PingInterval < 10*time.Millisecond || c.PingInterval > 10*time.Minute {
		errs = append(errs, fmt.Errorf("RELAY_PING_INTERVAL must be from 10ms to 10m, got %s", c.PingInterval))
	}
	if c.WriteTimeout <= 0 || c.WriteTimeout > time.Minute {
		errs = append(errs, fmt.Errorf("RELAY_WRITE_TIMEOUT must be > 0 and ≤ 1m, got %s", c.WriteTimeout))
	}
	if !slices.Contains([]string{drainDrop, drainGoingAway, drainServiceRestart}, c.DrainClose) {
		errs = append(errs, fmt.Errorf("RELAY_DRAIN_CLOSE must be drop, going_away or service_restart, got %q", c.DrainClose))
	}
	if c.ResumeAfter < 0 || c.ResumeAfter > 10*time.Second {
		errs = append(errs, fmt.Errorf("RELAY_RESUME_AFTER must be from 0 to 10s, got %s", c.ResumeAfter))
	}
	if c.DrainTalkWait < 0 || c.DrainTalkWait > 5*time.Minute {
		errs = append(errs, fmt.Errorf("RELAY_DRAIN_TALK_WAIT must be from 0 to 5m, got %s", c.DrainTalkWait))
	}
	if c.DrainCallWait < 0 || c.DrainCallWait > 24*time.Hour {
		errs = append(errs, fmt.Errorf("RELAY_DRAIN_CALL_WAIT must be from 0 to 24h, got %s", c.DrainCallWait))
	}
	if c.FallbackAfterErrors < 1 || c.FallbackAfterErrors > 100 {
		errs = append(errs, fmt.Errorf("RELAY_FALLBACK_AFTER_ERRORS must be from 1 to 100, got %d", c.FallbackAfterErrors))
	}
	if c.MaxSessions < 1 {
		errs = append(errs, fmt.Errorf("RELAY_MAX_SESSIONS must be at least 1, got %d", c.MaxSessions))
	}
	return errors.Join(errs...)
}

// relayState is what the process knows of its live sockets: only enough to
// bound them and close them on drain. The conversation itself lives in the
// store, turn by turn.
type relayState struct {
	cfg     RelayConfig
	metrics *relayMetrics
	count   atomic.Int64

	mu       sync.Mutex
	sessions map[*relaySession]struct{}
}

const localRelayCall = "relay_call"

// relayHandshake admits a WebSocket upgrade from ConversationRelay, all
// before upgrading: the relay mode is on, the instance is not draining, the
// path names a valid CallSid and X-Twilio-Signature is valid for the socket
// URL. Anything else is answered with a plain HTTP error and no socket.
func (s *Server) relayHandshake(c *fiber.Ctx) error {
	if !s.cfg.Streaming {
		return storage.Errorf(storage.ErrNotFound, "streamed calls are not served by this instance")
	}
	if !websocket.IsWebSocketUpgrade(c) {
		return newHTTPError(http.StatusUpgradeRequired, "upgrade_required", "this endpoint is a WebSocket")
	}
	if s.draining.Load() {
		// Twilio reconnects (applicationReconnect) through the load
		// balancer, to an instance that is not going away.
		return storage.Errorf(storage.ErrUnavailable, "instance is draining")
	}
	sig := c.Get("X-Twilio-Signature")
	if s.signatures.Enabled() {
		if sig == "" {
			return newHTTPError(http.StatusForbidden, "forbidden", "missing X-Twilio-Signature")
		}
		if !s.signatures.Check(sig, s.socketURLs(c), s.socketParams(c)) {
			return newHTTPError(http.StatusForbidden, "forbidden", "invalid X-Twilio-Signature")
		}
	}
	sid := strings.Clone(c.Params("sid"))
	if err := storage.CheckSID("CallSid", sid, "CA"); err != nil {
		return err
	}
	if n := s.relay.count.Load(); n >= int64(s.relay.cfg.MaxSessions) {
		return storage.Errorf(storage.ErrUnavailable, "too many streamed calls on this instance")
	}
	s.setCallLogger(c, sid)
	c.Locals(localRelayCall, sid)
	return c.Next()
}

// socketURLs are the URLs Twilio may have signed for this handshake. Twilio
// signs the URL it connected to: the <ConversationRelay url>, which is
// PUBLIC_BASE_URL with its scheme made ws(s), plus the path, without the
// query string (Twilio's agent SDKs pass query pairs as parameters, see
// socketParams). The variants with the query and with default ports are
// accepted as twiliosig accepts them for webhooks.
func (s *Server) socketURLs(c *fiber.Ctx) []string {
	origin := socketOrigin(s.origin)
	raw := string(c.Request().Header.RequestURI())
	if r, ok := c.Locals(localRawURI).(string); ok {
		raw = r
	}
	path := pathOf(raw)
	if _, under := underBase(path, s.basePath); s.basePath != "" && !under {
		path = s.basePath + path
	}
	targets := []string{origin + path}
	if path != pathOfQuery(raw) {
		targets = append(targets, origin+raw)
	}
	var urls []string
	for _, t := range targets {
		for _, u := range twiliosig.URLVariants(t) {
			if len(urls) < maxSignedURLs {
				urls = append(urls, u)
			}
		}
	}
	return urls
}

// pathOfQuery is target without its fragment (query kept).
func pathOfQuery(target string) string {
	if i := strings.IndexByte(target, '#'); i >= 0 {
		return target[:i]
	}
	return target
}

// socketParams are the handshake's query pairs, signed as POST parameters
// are; none for the URLs switchboard hands out.
func (s *Server) socketParams(c *fiber.Ctx) twiliosig.Params {
	q, err := url.ParseQuery(string(c.Request().URI().QueryString()))
	if err != nil || len(q) > maxFormFields {
		return twiliosig.NewParams(nil)
	}
	return twiliosig.NewParams(q)
}

// socketOrigin turns the public https origin into the wss one.
func socketOrigin(origin string) string {
	switch {
	case strings.HasPrefix(origin, "https://"):
		return "wss://" + origin[len("https://"):]
	case strings.HasPrefix(origin, "http://"):
		return "ws://" + origin[len("http://"):]
	}
	return origin
}

// relayURL is the <ConversationRelay url> of a call.
func (s *Server) relayURL(callSID string) string {
	return socketOrigin(s.origin) + s.basePath + "/twilio/relay/" + callSID
}

// relaySocket is the upgraded connection's handler.
func (s *Server) relaySocket() fiber.Handler {
	return websocket.New(func(conn *websocket.Conn) {
		sid, _ := conn.Locals(localRelayCall).(string)
		s.runRelay(conn, sid)
	}, websocket.Config{
		// Twilio's handshake is a plain upgrade; a slow one is an attack.
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   4096,
		WriteBufferSize:  4096,
	})
}

func (s *Server) addRelay(rs *relaySession) {
	s.relay.count.Add(1)
	s.relay.mu.Lock()
	s.relay.sessions[rs] = struct{}{}
	// A socket accepted as the drain began (Drain marks the server
	// draining before it walks the sessions) leaves too.
	if s.draining.Load() && s.relay.cfg.ApplicationReconnect {
		rs.goAway()
	}
	s.relay.mu.Unlock()
	s.relay.metrics.sessions.Inc()
}

func (s *Server) removeRelay(rs *relaySession) {
	s.relay.count.Add(-1)
	s.relay.mu.Lock()
	delete(s.relay.sessions, rs)
	s.relay.mu.Unlock()
	s.relay.metrics.sessions.Dec()
}

// relayContext is the context of a socket's store work and replies: it is
// not the upgrade request's, which ends when the handler returns.
func relayContext() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}
