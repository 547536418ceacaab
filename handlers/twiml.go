package handlers

import (
	"unicode/utf8"

	"switchboard/storage"
)

// TwiML is written by hand rather than with twilio-go's twiml package, which
// writes attributes in map iteration order (the same response would differ
// byte for byte between requests and golden fixtures could not pin it), or
// with encoding/xml, whose reflection was a twentieth of a webhook's CPU
// time and a fifth of its allocations. The output is encoding/xml's to the
// byte (TestTwiMLMatchesEncodingXML): elements never self-close, attributes
// come in the order written here, text and attribute values are escaped
// alike.

const xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

// twimlVerb is one element of a <Response>.
type twimlVerb interface {
	appendTo(b []byte) []byte
}

type twimlStart struct {
	Recording twimlRecording
}

type twimlRecording struct {
	Callback string
	Method   string
	Events   string
	Channels string
}

type twimlGather struct {
	Input         string
	Action        string
	Method        string
	SpeechTimeout string
	Language      string
	Say           twimlSay
}

type twimlSay struct {
	Voice    string // omitted when empty
	Language string // omitted when empty
	Text     string
}

type twimlRedirect struct {
	Method string
	URL    string
}

type twimlHangup struct{}

func (v twimlStart) appendTo(b []byte) []byte {
	b = append(b, "<Start>"...)
	b = v.Recording.appendTo(b)
	return append(b, "</Start>"...)
}

func (v twimlRecording) appendTo(b []byte) []byte {
	b = append(b, "<Recording"...)
	b = appendAttr(b, "recordingStatusCallback", v.Callback)
	b = appendAttr(b, "recordingStatusCallbackMethod", v.Method)
	b = appendAttr(b, "recordingStatusCallbackEvent", v.Events)
	b = appendAttr(b, "channels", v.Channels)
	return append(b, "></Recording>"...)
}

func (v twimlGather) appendTo(b []byte) []byte {
	b = append(b, "<Gather"...)
	b = appendAttr(b, "input", v.Input)
	b = appendAttr(b, "action", v.Action)
	b = appendAttr(b, "method", v.Method)
	b = appendAttr(b, "speechTimeout", v.SpeechTimeout)
	b = appendAttr(b, "language", v.Language)
	b = append(b, '>')
	b = v.Say.appendTo(b)
	return append(b, "</Gather>"...)
}

func (v twimlSay) appendTo(b []byte) []byte {
	b = append(b, "<Say"...)
	if v.Voice != "" {
		b = appendAttr(b, "voice", v.Voice)
	}
	if v.Language != "" {
		b = appendAttr(b, "language", v.Language)
	}
	b = append(b, '>')
	b = appendEscaped(b, v.Text)
	return append(b, "</Say>"...)
}

func (v twimlRedirect) appendTo(b []byte) []byte {
	b = append(b, "<Redirect"...)
	b = appendAttr(b, "method", v.Method)
	b = append(b, '>')
	b = appendEscaped(b, v.URL)
	return append(b, "</Redirect>"...)
}

func (twimlHangup) appendTo(b []byte) []byte { return append(b, "<Hangup></Hangup>"...) }

func appendAttr(b []byte, name, value string) []byte {
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, `="`...)
	b = appendEscaped(b, value)
	return append(b, '"')
}

// appendEscaped escapes s as encoding/xml's EscapeText does: the five
// markup characters and tab, newline and carriage return as references,
// and anything XML cannot carry (invalid UTF-8, control characters) as
// U+FFFD.
func appendEscaped(b []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); {
		r, width := utf8.DecodeRuneInString(s[i:])
		i += width
		var esc string
		switch r {
		case '"':
			esc = "&#34;"
		case '\'':
			esc = "&#39;"
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '\t':
			esc = "&#x9;"
		case '\n':
			esc = "&#xA;"
		case '\r':
			esc = "&#xD;"
		default:
			if xmlChar(r) && (r != utf8.RuneError || width != 1) {
				continue
			}
			esc = "\uFFFD"
		}
		b = append(b, s[last:i-width]...)
		b = append(b, esc...)
		last = i
	}
	return append(b, s[last:]...)
}

// xmlChar reports whether r is in XML 1.0's Char production.
func xmlChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// renderTwiML returns the document for verbs: the XML declaration first (any
// byte before it is Twilio error 12100), then <Response>.
func renderTwiML(verbs ...twimlVerb) []byte {
	b := make([]byte, 0, 512)
	b = append(b, xmlHeader...)
	b = append(b, "<Response>"...)
	for _, v := range verbs {
		b = v.appendTo(b)
	}
	return append(b, "</Response>"...)
}

// speech is how a call is spoken to and heard: the language and voice of
// the assistant it runs with.
type speech struct {
	language, voice string
}

// speechOf is the speech of an assistant version.
func speechOf(a storage.Assistant) speech { return speech{language: a.Language, voice: a.Voice} }

// defaultSpeech is the deployment's (CALL_LANGUAGE, CALL_VOICE), for what
// is said outside any call's assistant.
func (s *Server) defaultSpeech() speech { return speech{language: s.cfg.Language, voice: s.cfg.Voice} }

func (sp speech) say(text string) twimlSay {
	return twimlSay{Voice: sp.voice, Language: sp.language, Text: text}
}

// prompt says text inside a speech <Gather> whose answer is turn, followed
// by a <Redirect> that Twilio follows when the caller says nothing (the
// silence-th time).
func (s *Server) prompt(sp speech, text string, turn, silence int) []twimlVerb {
	return []twimlVerb{
		twimlGather{
			Input:         "speech",
			Action:        s.gatherURL(turn, 0),
			Method:        "POST",
			SpeechTimeout: "auto",
			Language:      sp.language,
			Say:           sp.say(text),
		},
		twimlRedirect{Method: "POST", URL: s.gatherURL(turn, silence+1)},
	}
}

// ask is the document of prompt alone.
func (s *Server) ask(sp speech, text string, turn, silence int) []byte {
	return renderTwiML(s.prompt(sp, text, turn, silence)...)
}

// goodbye says text and hangs up.
func (s *Server) goodbye(sp speech, text string) []byte {
	return renderTwiML(sp.say(text), twimlHangup{})
}

// gatherURL is absolute under PUBLIC_BASE_URL, path included: a relative
// URL would be resolved against wherever Twilio's last request went and
// loses an API Gateway stage. The query keys are written in sorted order:
// API Gateway REST and ALB events carry the query as a map, so the Lambda
// runtime rebuilds it sorted first, and the signature Twilio computed over
// the URL as written then matches at the first try.
func (s *Server) gatherURL(turn, silence int) string {
	if silence > 0 {
		return s.cfg.PublicBaseURL + "/twilio/gather?silence=" + itoa(silence) + "&turn=" + itoa(turn)
	}
	return s.cfg.PublicBaseURL + "/twilio/gather?turn=" + itoa(turn)
}
