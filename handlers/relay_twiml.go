package handlers

import "encoding/xml"

// <Connect action><ConversationRelay …/></Connect>. Attribute names are
// those of twilio-node's TwiML schema (src/twiml/VoiceResponse.ts,
// ConnectAttributes and ConversationRelayAttributes) and of the
// <ConversationRelay> TwiML page.

type twimlConnect struct {
	XMLName xml.Name `xml:"Connect"`
	Action  string   `xml:"action,attr"`
	Method  string   `xml:"method,attr"`
	Relay   twimlConversationRelay
}

type twimlConversationRelay struct {
	XMLName                      xml.Name `xml:"ConversationRelay"`
	URL                          string   `xml:"url,attr"`
	WelcomeGreeting              string   `xml:"welcomeGreeting,attr"`
	WelcomeGreetingInterruptible string   `xml:"welcomeGreetingInterruptible,attr"`
	Language                     string   `xml:"language,attr"`
	TTSProvider                  string   `xml:"ttsProvider,attr"`
	Voice                        string   `xml:"voice,attr"`
	TranscriptionProvider        string   `xml:"transcriptionProvider,attr"`
	Interruptible                string   `xml:"interruptible,attr"`
}

// relayTwiML starts the recording, then hands the call to
// ConversationRelay with the stored greeting as its welcome.
func (s *Server) relayTwiML(recording twimlStart, callSID, greeting string) []byte {
	return renderTwiML(recording, twimlConnect{
		Action: s.cfg.PublicBaseURL + "/twilio/relay/action",
		Method: "POST",
		Relay: twimlConversationRelay{
			URL:                          s.relayURL(callSID),
			WelcomeGreeting:              greeting,
			WelcomeGreetingInterruptible: "any",
			Language:                     s.cfg.Language,
			TTSProvider:                  s.relay.cfg.TTSProvider,
			Voice:                        s.relay.cfg.Voice,
			TranscriptionProvider:        s.relay.cfg.TranscriptionProvider,
			Interruptible:                "any",
		},
	})
}
