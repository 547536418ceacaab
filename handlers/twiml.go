package handlers

import (
	"encoding/xml"

	"switchboard/storage"
)

// TwiML is rendered with encoding/xml rather than twilio-go's twiml package:
// that package writes attributes in map iteration order, so the same response
// would differ byte for byte between requests and golden fixtures could not
// pin it.

const xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

type twimlResponse struct {
	XMLName xml.Name `xml:"Response"`
	Verbs   []any
}

type twimlStart struct {
	XMLName   xml.Name `xml:"Start"`
	Recording twimlRecording
}

type twimlRecording struct {
	XMLName  xml.Name `xml:"Recording"`
	Callback string   `xml:"recordingStatusCallback,attr"`
	Method   string   `xml:"recordingStatusCallbackMethod,attr"`
	Events   string   `xml:"recordingStatusCallbackEvent,attr"`
	Channels string   `xml:"channels,attr"`
}

type twimlGather struct {
	XMLName       xml.Name `xml:"Gather"`
	Input         string   `xml:"input,attr"`
	Action        string   `xml:"action,attr"`
	Method        string   `xml:"method,attr"`
	SpeechTimeout string   `xml:"speechTimeout,attr"`
	Language      string   `xml:"language,attr"`
	Say           twimlSay
}

type twimlSay struct {
	XMLName  xml.Name `xml:"Say"`
	Voice    string   `xml:"voice,attr,omitempty"`
	Language string   `xml:"language,attr,omitempty"`
	Text     string   `xml:",chardata"`
}

type twimlRedirect struct {
	XMLName xml.Name `xml:"Redirect"`
	Method  string   `xml:"method,attr"`
	URL     string   `xml:",chardata"`
}

type twimlHangup struct {
	XMLName xml.Name `xml:"Hangup"`
}

// renderTwiML returns the document for verbs: the XML declaration first (any
// byte before it is Twilio error 12100), then <Response>.
func renderTwiML(verbs ...any) []byte {
	out, err := xml.Marshal(twimlResponse{Verbs: verbs})
	if err != nil {
		// Only our own fixed types are marshalled; failure is a programming error.
		panic("handlers: TwiML does not marshal: " + err.Error())
	}
	return append([]byte(xmlHeader), out...)
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
func (s *Server) prompt(sp speech, text string, turn, silence int) []any {
	return []any{
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
