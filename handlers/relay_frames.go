package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// The ConversationRelay WebSocket messages, as Twilio's "WebSocket
// messages" page documents them (docs/voice/conversationrelay/
// websocket-messages): JSON text frames with a "type".

// relayInbound is any message Twilio sends; the fields of every type share
// one struct so a frame is decoded once.
type relayInbound struct {
	Type string `json:"type"`
	// setup
	SessionID  string `json:"sessionId"`
	AccountSID string `json:"accountSid"`
	CallSID    string `json:"callSid"`
	From       string `json:"from"`
	To         string `json:"to"`
	Direction  string `json:"direction"`
	// prompt
	VoicePrompt string `json:"voicePrompt"`
	Lang        string `json:"lang"`
	Last        *bool  `json:"last"`
	// interrupt
	UtteranceUntilInterrupt string    `json:"utteranceUntilInterrupt"`
	DurationUntilInterrupt  flexValue `json:"durationUntilInterruptMs"`
	// dtmf
	Digit string `json:"digit"`
	// info and error
	Description string `json:"description"`
}

// flexValue accepts a number or a string: Twilio has been seen sending
// durationUntilInterruptMs as both.
type flexValue string

func (f *flexValue) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexValue(s)
		return nil
	}
	if bytes.Equal(b, []byte("null")) {
		*f = ""
		return nil
	}
	if _, err := strconv.ParseFloat(string(b), 64); err != nil {
		return errors.New("not a number")
	}
	*f = flexValue(b)
	return nil
}

// Message types, as metric labels: a fixed set, so a sender cannot grow
// the label space.
const (
	frameSetup     = "setup"
	framePrompt    = "prompt"
	frameInterrupt = "interrupt"
	frameDTMF      = "dtmf"
	frameInfo      = "info"
	frameError     = "error"
	frameOther     = "other"
)

func frameLabel(t string) string {
	switch t {
	case frameSetup, framePrompt, frameInterrupt, frameDTMF, frameInfo, frameError:
		return t
	}
	return frameOther
}

// errBadFrame is a frame that is not a JSON object with a string type.
var errBadFrame = errors.New("frame is not a ConversationRelay message")

// parseInbound decodes one text frame. Unknown fields are ignored (Twilio
// adds fields without notice); a frame that is not a JSON object with a
// type, or whose known fields have the wrong types, is errBadFrame.
func parseInbound(b []byte) (relayInbound, error) {
	var m relayInbound
	if err := json.Unmarshal(b, &m); err != nil || m.Type == "" {
		return relayInbound{}, errBadFrame
	}
	return m, nil
}

// final reports whether a prompt is complete: last is true, or absent
// (partial prompts carry last:false and are off unless asked for).
func (m relayInbound) final() bool { return m.Last == nil || *m.Last }

// App → Twilio messages.

type relayText struct {
	Type  string `json:"type"`
	Token string `json:"token"`
	Last  bool   `json:"last"`
}

type relayEnd struct {
	Type        string `json:"type"`
	HandoffData string `json:"handoffData"`
}

// handoff is what switchboard puts in an end message's handoffData and
// reads back in the <Connect action> callback.
type handoff struct {
	Reason   string `json:"reason"`
	Turn     int    `json:"turn"`
	Farewell string `json:"farewell,omitempty"`
	// Language and Voice are the call's assistant's, for the farewell the
	// action callback says with <Say>.
	Language string `json:"language,omitempty"`
	Voice    string `json:"voice,omitempty"`
}

// Handoff reasons.
const (
	handoffEndCall = "end_call"   // the assistant ended the call
	handoffGiveUp  = "give_up"    // the assistant kept failing
	handoffGone    = "deleted"    // the call's record was deleted
	handoffTooLong = "turn_limit" // the call reached storage.MaxTurn
	// handoffTransfer: the assistant transferred the caller; the action
	// callback dials the transfer stored with Turn.
	handoffTransfer = "transfer"
	// handoffFallback: the session failed (Twilio kept reporting errors);
	// the action callback continues the call with <Gather>.
	handoffFallback = "fallback"
)

// maxHandoffData bounds the HandoffData the action callback reads.
const maxHandoffData = 4096

func parseHandoff(s string) (handoff, bool) {
	var h handoff
	if s == "" || len(s) > maxHandoffData || json.Unmarshal([]byte(s), &h) != nil {
		return handoff{}, false
	}
	h.Reason = strings.TrimSpace(h.Reason)
	return h, h.Reason != ""
}
