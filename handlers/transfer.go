package handlers

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"switchboard/assistant"
	"switchboard/storage"
)

// Transfers to a person. The assistant turn that asks for one is stored
// with the transfer and answered with <Dial>: cold, the target is connected
// at once; warm, <Number url> (or <Sip url>) has Twilio request the
// whisper webhook on the target's new call leg when it answers, which says
// the summary prepared with the turn and then lets Twilio connect the
// caller. The <Dial action> callback records the outcome; when the target
// was busy, did not answer or failed, the caller is back with the
// assistant: the next <Gather>, or a new ConversationRelay session that
// resumes the stored conversation. Both webhooks write the transfer's row
// only (one statement each): the target's leg never becomes a call.
// Attribute names are twilio-node's (src/twiml/VoiceResponse.ts:
// DialAttributes, NumberAttributes, SipAttributes).

type twimlDial struct {
	XMLName        xml.Name `xml:"Dial"`
	Action         string   `xml:"action,attr"`
	Method         string   `xml:"method,attr"`
	Timeout        int      `xml:"timeout,attr"`
	AnswerOnBridge bool     `xml:"answerOnBridge,attr"`
	Target         twimlVerb
}

type twimlNumber struct {
	XMLName xml.Name `xml:"Number"`
	URL     string   `xml:"url,attr,omitempty"`
	Method  string   `xml:"method,attr,omitempty"`
	Number  string   `xml:",chardata"`
}

type twimlSip struct {
	XMLName xml.Name `xml:"Sip"`
	URL     string   `xml:"url,attr,omitempty"`
	Method  string   `xml:"method,attr,omitempty"`
	URI     string   `xml:",chardata"`
}

func (v twimlDial) appendTo(b []byte) []byte {
	b = append(b, "<Dial"...)
	b = appendAttr(b, "action", v.Action)
	b = appendAttr(b, "method", v.Method)
	b = appendAttr(b, "timeout", strconv.Itoa(v.Timeout))
	b = appendAttr(b, "answerOnBridge", strconv.FormatBool(v.AnswerOnBridge))
	b = append(b, '>')
	if v.Target != nil {
		b = v.Target.appendTo(b)
	}
	return append(b, "</Dial>"...)
}

// appendDialTarget writes a <Number> or <Sip> noun.
func appendDialTarget(b []byte, name, url, method, target string) []byte {
	b = append(b, '<')
	b = append(b, name...)
	if url != "" {
		b = appendAttr(b, "url", url)
	}
	if method != "" {
		b = appendAttr(b, "method", method)
	}
	b = append(b, '>')
	b = appendEscaped(b, target)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

func (v twimlNumber) appendTo(b []byte) []byte {
	return appendDialTarget(b, "Number", v.URL, v.Method, v.Number)
}

func (v twimlSip) appendTo(b []byte) []byte {
	return appendDialTarget(b, "Sip", v.URL, v.Method, v.URI)
}

// dialTimeout is how long the target's phone rings before no-answer.
const dialTimeout = 25

// sayTransferFailed is said when the caller comes back to the assistant.
func sayTransferFailed(target string) string {
	return fmt.Sprintf("I'm sorry, I couldn't reach %s. Is there anything else I can help you with?", target)
}

// newTransfer is the transfer an assistant turn stores for the model's
// request.
func newTransfer(n int, a storage.Assistant, r *assistant.TransferRequest) *storage.Transfer {
	return &storage.Transfer{Turn: n, Target: r.Target.Name, Number: r.Target.Number, Mode: r.Target.Mode,
		Summary: truncateText(r.Summary), Status: storage.TransferDialing, RequestedAt: time.Now().UTC().Truncate(time.Microsecond),
		Assistant: a.Ref()}
}

// dialVerbs say the turn's text, then dial the transfer's target.
func (s *Server) dialVerbs(sp speech, t storage.Turn) []twimlVerb {
	tr := t.Transfer
	var whisper string
	if tr.Mode == storage.TransferWarm {
		whisper = s.cfg.PublicBaseURL + "/twilio/whisper?call=" + t.CallSID + "&turn=" + itoa(t.Number)
	}
	method := ""
	if whisper != "" {
		method = "POST"
	}
	var target twimlVerb = twimlNumber{URL: whisper, Method: method, Number: tr.Number}
	if strings.HasPrefix(tr.Number, "sip") {
		target = twimlSip{URL: whisper, Method: method, URI: tr.Number}
	}
	var verbs []twimlVerb
	if strings.TrimSpace(t.Text) != "" {
		verbs = append(verbs, sp.say(t.Text))
	}
	return append(verbs, twimlDial{
		Action: s.cfg.PublicBaseURL + "/twilio/transfer?turn=" + itoa(t.Number),
		Method: "POST", Timeout: dialTimeout, AnswerOnBridge: true, Target: target,
	})
}

// whisper answers the <Number url> request of a warm transfer's target
// leg: the summary prepared with the turn, said to the person who
// answered, before Twilio connects the caller. The request is the child
// leg's (its own CallSid; ParentCallSid the caller's): it is recorded on
// the transferred call and creates no call.
func (s *Server) whisper(c *fiber.Ctx) error {
	f := formOf(c)
	parent := strings.Clone(c.Query("call"))
	if err := storage.CheckSID("query parameter call", parent, "CA"); err != nil {
		return err
	}
	n, err := queryInt(c, "turn", -1, 1, storage.MaxTurn)
	if err != nil || n < 1 {
		return storage.Errorf(storage.ErrInvalid, "query parameter turn must be an integer from 1 to %d", storage.MaxTurn)
	}
	child, err := requireSID(f, "CallSid", "CA")
	if err != nil {
		return err
	}
	if p := f.Get("ParentCallSid"); p != "" && p != parent {
		return storage.Errorf(storage.ErrInvalid, "ParentCallSid is not the transferred call")
	}
	if s.transfers == nil {
		return storage.Errorf(storage.ErrUnavailable, "the call store cannot record transfers")
	}
	ctx, cancel := s.storeContext(c)
	defer cancel()
	tr, err := s.transfers.AnswerTransfer(ctx, parent, n, child, time.Now())
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrGone) {
		// Nothing to whisper: connect without it rather than drop the call.
		s.logger(c).Warn("whisper for an unknown transfer", "turn", n, "err", err.Error())
		return sendTwiML(c, renderTwiML())
	}
	if err != nil {
		return err
	}
	s.logger(c).Info("transfer answered", "turn", n, "target", tr.Target)
	return sendTwiML(c, renderTwiML(s.transferSpeech(c, tr).say(tr.Summary)))
}

// transferAction answers the <Dial action> callback: the transfer's
// outcome is recorded; a caller who was connected is done, one whose
// target was busy, did not answer or failed is back with the assistant.
func (s *Server) transferAction(c *fiber.Ctx) error {
	f := formOf(c)
	nc, err := s.callFromForm(f)
	if err != nil {
		return err
	}
	n, err := queryInt(c, "turn", -1, 1, storage.MaxTurn)
	if err != nil || n < 1 {
		return storage.Errorf(storage.ErrInvalid, "query parameter turn must be an integer from 1 to %d", storage.MaxTurn)
	}
	end := storage.TransferEnd{Status: strings.Clone(f.Get("DialCallStatus")), At: time.Now()}
	if v := f.Get("DialCallSid"); v != "" {
		end.ChildCallSID = strings.Clone(v)
	}
	if v := f.Get("DialCallDuration"); v != "" {
		if end.TalkSeconds, err = strconv.Atoi(v); err != nil {
			return storage.Errorf(storage.ErrInvalid, "parameter DialCallDuration must be a number of seconds")
		}
	}
	if err := end.Check(); err != nil {
		return err
	}
	if s.transfers == nil {
		return storage.Errorf(storage.ErrUnavailable, "the call store cannot record transfers")
	}
	ctx, cancel := s.storeContext(c)
	defer cancel()
	tr, err := s.transfers.EndTransfer(ctx, nc.SID, n, end)
	if errors.Is(err, storage.ErrGone) {
		return s.hangUpDeletedCall(c)
	}
	if err != nil {
		return err
	}
	log := s.logger(c).With("turn", n, "target", tr.Target, "dial_status", tr.Status)
	if tr.Connected() || nc.Status.Terminal() {
		log.Info("transfer over")
		return sendTwiML(c, renderTwiML(twimlHangup{}))
	}
	log.Info("transfer failed; the caller is back with the assistant")
	a, err := s.versions.Get(ctx, tr.Assistant)
	if err != nil {
		return err
	}
	sp := speechOf(a)
	if s.relayFor(c, a) {
		return sendTwiML(c, s.relayResumeTwiML(sp, nc.SID, sayTransferFailed(tr.Target)))
	}
	return sendTwiML(c, s.ask(sp, sayTransferFailed(tr.Target), n+1, 0))
}

// transferSpeech is the voice of the assistant that transferred.
func (s *Server) transferSpeech(c *fiber.Ctx, tr storage.Transfer) speech {
	ctx, cancel := s.storeContext(c)
	defer cancel()
	a, err := s.versions.Get(ctx, tr.Assistant)
	if err != nil {
		return s.defaultSpeech()
	}
	return speechOf(a)
}

// relayResumeTwiML starts a new ConversationRelay session on a call that
// already has its recording: welcome says where the call stands, and the
// session carries on the stored conversation.
func (s *Server) relayResumeTwiML(sp speech, callSID, welcome string) []byte {
	return renderTwiML(s.relayConnect(sp, callSID, welcome))
}
