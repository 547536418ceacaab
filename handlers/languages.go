package handlers

import (
	"fmt"
	"strings"

	"switchboard/storage"
)

// gatherLanguages are the values Twilio accepts for <Gather language>, from
// the GatherLanguage type of twilio-node's TwiML schema
// (src/twiml/VoiceResponse.ts, commit 45d3d65a). Any other value is Twilio
// warning 13512 and the caller's speech is not recognised; "en" alone is
// not one of them.
var gatherLanguages = strings.Fields(`
af-ZA am-ET ar-AE ar-BH ar-DZ ar-EG ar-IL ar-IQ ar-JO ar-KW ar-LB ar-MA
ar-OM ar-PS ar-QA ar-SA ar-TN az-AZ bg-BG bn-BD bn-IN ca-ES cs-CZ da-DK
de-DE el-GR en-AU en-CA en-GB en-GH en-IE en-IN en-KE en-NG en-NZ en-PH
en-SG en-TZ en-US en-ZA es-AR es-BO es-CL es-CO es-CR es-DO es-EC es-ES
es-GT es-HN es-MX es-NI es-PA es-PE es-PR es-PY es-SV es-US es-UY es-VE
et-EE eu-ES fa-IR fi-FI fil-PH fr-CA fr-FR gl-ES gu-IN he-IL hi-IN hr-HR
hu-HU hy-AM id-ID is-IS it-IT ja-JP jv-ID ka-GE km-KH kn-IN ko-KR lo-LA
lt-LT lv-LV mk-MK ml-IN mn-MN mr-IN ms-MY my-MM nar-IQ nb-NO ne-NP nl-BE
nl-NL pa-guru-IN pl-PL pt-BR pt-PT ro-RO ru-RU si-LK sk-SK sl-SI sq-AL sr-RS
su-ID sv-SE sw-KE sw-TZ ta-IN ta-LK ta-MY ta-SG te-IN th-TH tr-TR uk-UA
ur-IN ur-PK uz-UZ vi-VN yue-Hant-HK zh cmn-Hans-CN zh-TW cmn-Hant-TW zu-ZA`)

// pollyVoices maps each Amazon Polly voice Twilio offers for <Say>
// ("Polly.Joanna", "Polly.Joanna-Neural", "Polly.Joanna-Generative") to the
// languages it speaks, from Amazon Polly's list of available voices.
var pollyVoices = map[string][]string{
	"Aditi": {"en-IN", "hi-IN"}, "Adriano": {"it-IT"}, "Amy": {"en-GB"}, "Andres": {"es-MX"},
	"Aria": {"en-NZ"}, "Arlet": {"ca-ES"}, "Arthur": {"en-GB"}, "Astrid": {"sv-SE"},
	"Ayanda": {"en-ZA"}, "Bianca": {"it-IT"}, "Brian": {"en-GB"}, "Burcu": {"tr-TR"},
	"Camila": {"pt-BR"}, "Carla": {"it-IT"}, "Carmen": {"ro-RO"}, "Celine": {"fr-FR"},
	"Chantal": {"fr-CA"}, "Conchita": {"es-ES"}, "Cristiano": {"pt-PT"}, "Daniel": {"de-DE"},
	"Danielle": {"en-US"}, "Dora": {"is-IS"}, "Elin": {"sv-SE"}, "Emma": {"en-GB"},
	"Enrique": {"es-ES"}, "Ewa": {"pl-PL"}, "Filiz": {"tr-TR"}, "Gabrielle": {"fr-CA"},
	"Geraint": {"en-GB-WLS"}, "Giorgio": {"it-IT"}, "Gregory": {"en-US"}, "Gwyneth": {"cy-GB"},
	"Hala": {"ar-AE"}, "Hannah": {"de-AT"}, "Hans": {"de-DE"}, "Hiujin": {"yue-CN"},
	"Ida": {"nb-NO"}, "Ines": {"pt-PT"}, "Isabelle": {"fr-BE"}, "Ivy": {"en-US"},
	"Jacek": {"pl-PL"}, "Jan": {"pl-PL"}, "Joanna": {"en-US"}, "Joey": {"en-US"},
	"Justin": {"en-US"}, "Kajal": {"en-IN", "hi-IN"}, "Karl": {"is-IS"}, "Kazuha": {"ja-JP"},
	"Kendra": {"en-US"}, "Kevin": {"en-US"}, "Kimberly": {"en-US"}, "Laura": {"nl-NL"},
	"Lea": {"fr-FR"}, "Liam": {"fr-CA"}, "Lisa": {"nl-BE"}, "Liv": {"nb-NO"},
	"Lotte": {"nl-NL"}, "Lucia": {"es-ES"}, "Lupe": {"es-US"}, "Mads": {"da-DK"},
	"Maja": {"pl-PL"}, "Marlene": {"de-DE"}, "Mathieu": {"fr-FR"}, "Matthew": {"en-US"},
	"Maxim": {"ru-RU"}, "Mia": {"es-MX"}, "Mía": {"es-MX"}, "Miguel": {"es-US"},
	"Mizuki": {"ja-JP"}, "Naja": {"da-DK"}, "Niamh": {"en-IE"}, "Nicole": {"en-AU"},
	"Ola": {"pl-PL"}, "Olivia": {"en-AU"}, "Pedro": {"es-US"}, "Penelope": {"es-US"},
	"Raveena": {"en-IN"}, "Remi": {"fr-FR"}, "Rémi": {"fr-FR"}, "Ricardo": {"pt-BR"},
	"Ruben": {"nl-NL"}, "Russell": {"en-AU"}, "Ruth": {"en-US"}, "Salli": {"en-US"},
	"Seoyeon": {"ko-KR"}, "Sergio": {"es-ES"}, "Sofie": {"da-DK"}, "Stephen": {"en-US"},
	"Suvi": {"fi-FI"}, "Takumi": {"ja-JP"}, "Tatyana": {"ru-RU"}, "Thiago": {"pt-BR"},
	"Tomoko": {"ja-JP"}, "Vicki": {"de-DE"}, "Vitoria": {"pt-BR"}, "Zayd": {"ar-AE"},
	"Zeina": {"arb"}, "Zhiyu": {"cmn-CN"},
}

// CheckSpeech checks the call's language and voice together: the language
// must be one Twilio recognises speech in (an error otherwise), and a voice
// known to speak another language is an error too. A voice switchboard
// cannot place (not a Polly or Google voice it knows) gives a warning.
func CheckSpeech(language, voice string) (warning string, err error) {
	if !validGatherLanguage(language) {
		return "", fmt.Errorf("CALL_LANGUAGE %q is not a language Twilio recognises speech in (use a tag such as en-US, de-DE or es-MX)", language)
	}
	if speaks, ok := voiceMismatch(language, voice); ok {
		return "", fmt.Errorf("CALL_VOICE %q speaks %s, not CALL_LANGUAGE %s", voice, speaks, language)
	}
	if _, known := voiceLanguages(voice); !known {
		return fmt.Sprintf("CALL_VOICE %q is not a voice switchboard knows; make sure it speaks %s", voice, language), nil
	}
	return "", nil
}

// speechFields checks an assistant's language and voice as CheckSpeech
// checks the deployment's, naming the fields. A voice switchboard does not
// know is accepted: Twilio adds voices.
func speechFields(language, voice string) []storage.FieldError {
	if !validGatherLanguage(language) {
		return []storage.FieldError{{Field: "language", Message: "is not a language Twilio recognises speech in (use a tag such as en-US, de-DE or es-MX)"}}
	}
	if speaks, ok := voiceMismatch(language, voice); ok {
		return []storage.FieldError{{Field: "voice", Message: fmt.Sprintf("speaks %s, not the assistant's language %s", speaks, language)}}
	}
	return nil
}

// voiceMismatch reports a known voice that does not speak language, and
// the languages it speaks.
func voiceMismatch(language, voice string) (string, bool) {
	speaks, known := voiceLanguages(voice)
	if !known {
		return "", false
	}
	for _, l := range speaks {
		if sameLanguage(l, language) {
			return "", false
		}
	}
	return strings.Join(speaks, " and "), true
}

func validGatherLanguage(l string) bool {
	for _, g := range gatherLanguages {
		if g == l {
			return true
		}
	}
	return false
}

// voiceLanguages returns the languages a Twilio <Say> voice speaks:
// Polly voices from the table, Google voices from their names
// ("Google.en-US-Neural2-A").
func voiceLanguages(voice string) ([]string, bool) {
	if name, ok := strings.CutPrefix(voice, "Polly."); ok {
		name, _, _ = strings.Cut(name, "-")
		l, ok := pollyVoices[name]
		return l, ok
	}
	if name, ok := strings.CutPrefix(voice, "Google."); ok {
		parts := strings.Split(name, "-")
		if len(parts) >= 3 {
			return []string{parts[0] + "-" + parts[1]}, true
		}
	}
	return nil, false
}

// sameLanguage compares the primary language subtags of two tags, with
// the Chinese tags (zh, cmn, yue) taken as one language.
func sameLanguage(a, b string) bool {
	return primary(a) == primary(b)
}

func primary(tag string) string {
	p, _, _ := strings.Cut(strings.ToLower(tag), "-")
	switch p {
	case "cmn", "yue":
		return "zh"
	case "arb":
		return "ar"
	}
	return p
}
