package assistant

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// SpeechStream shapes a reply for speech while it streams, as Speakable
// does for a whole one: it holds back only the word being written (or an
// unfinished link or code span), so the first words reach the caller as
// soon as the model has written them. Markdown goes (code blocks entirely,
// headings' and list items' marks, emphasis, links reduced to their text,
// web addresses and emoji dropped) and the reply stops at maxChars runes, at
// a word boundary. It is not safe for concurrent use.
type SpeechStream struct {
	max   int
	emit  func(string) error
	pend  string
	said  strings.Builder
	runes int
	// atLineStart: the next text begins a line, where block marks are read.
	atLineStart bool
	inFence     bool
	stopped     bool
}

// maxHold bounds the text held back waiting for a word or construct to end.
const maxHold = 400

// NewSpeechStream returns a shaper that hands speakable text to emit.
// maxChars ≤ 0 means no limit.
func NewSpeechStream(maxChars int, emit func(string) error) *SpeechStream {
	return &SpeechStream{max: maxChars, emit: emit, atLineStart: true}
}

// Write takes the next delta of the model's text. It returns a *SinkError
// when emit failed and errStopped once the reply reached its length limit.
func (s *SpeechStream) Write(delta string) error {
	if s.stopped {
		return errStopped
	}
	s.pend += delta
	cut := readyPrefix(s.pend)
	if cut == 0 {
		return nil
	}
	ready := s.pend[:cut]
	s.pend = s.pend[cut:]
	return s.shape(ready)
}

// Close says whatever is still held back, ending the reply.
func (s *SpeechStream) Close() error {
	if s.stopped || s.pend == "" {
		return nil
	}
	rest := s.pend
	s.pend = ""
	return s.shape(rest)
}

// Said is every piece of text emitted so far, joined.
func (s *SpeechStream) Said() string {
	return spacePunct.ReplaceAllString(strings.TrimSpace(s.said.String()), "$1")
}

// readyPrefix returns how much of pend can be shaped now: up to its last
// whitespace, unless a link, code span or tag opened before it is still
// unfinished; everything once too much is held.
func readyPrefix(pend string) int {
	if len(pend) > maxHold {
		return len(pend)
	}
	last := strings.LastIndexFunc(pend, unicode.IsSpace)
	if last < 0 {
		return 0
	}
	// Include the whitespace rune itself.
	_, size := utf8.DecodeRuneInString(pend[last:])
	cut := last + size
	if unfinished(pend[:cut]) {
		return 0
	}
	return cut
}

// unfinished reports whether s ends inside a markdown link, a code span or
// an HTML tag, which must be shaped whole.
func unfinished(s string) bool {
	if strings.Count(s, "`")%2 == 1 {
		// An odd number of backticks, unless it is a fence marker at a line start.
		if !strings.Contains(s, "```") && !strings.Contains(s, "~~~") {
			return true
		}
	}
	if i := strings.LastIndexByte(s, '['); i >= 0 {
		rest := s[i:]
		if !strings.Contains(rest, "]") {
			return true
		}
		if j := strings.Index(rest, "]("); j >= 0 && !strings.Contains(rest[j:], ")") {
			return true
		}
	}
	if i := strings.LastIndexByte(s, '<'); i >= 0 && !strings.Contains(s[i:], ">") && i+1 < len(s) && isASCIILetterOrSlash(s[i+1]) {
		return true
	}
	return false
}

func isASCIILetterOrSlash(b byte) bool {
	return b == '/' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
}

var (
	streamHeadingRe = regexp.MustCompile(`^\s{0,3}#{1,6}\s+`)
	streamListRe    = regexp.MustCompile(`^\s*(?:[-*+•‣◦]|\d{1,3}[.)])\s+`)
	streamFenceRe   = regexp.MustCompile("^\\s*(```|~~~)")
)

// shape turns ready text (whole words) into speakable text and emits it.
func (s *SpeechStream) shape(ready string) error {
	var out strings.Builder
	lines := strings.Split(ready, "\n")
	for i, line := range lines {
		ended := i < len(lines)-1 // a newline follows this piece
		if s.atLineStart {
			if streamFenceRe.MatchString(line) {
				s.inFence = !s.inFence
				s.atLineStart = ended
				if !ended {
					// The fence's info string may continue; drop the line.
					s.atLineStart = false
				}
				continue
			}
			if !s.inFence {
				line = quoteRe.ReplaceAllString(line, "")
				if ruleRe.MatchString(line) || tableSepRe.MatchString(line) {
					line = ""
				}
				heading := streamHeadingRe.MatchString(line)
				item := streamListRe.MatchString(line)
				line = streamHeadingRe.ReplaceAllString(line, "")
				line = streamListRe.ReplaceAllString(line, "")
				if ended && (heading || item) && strings.TrimSpace(line) != "" && !endsSentence(strings.TrimSpace(line)) {
					line = strings.TrimRight(line, " ,;:") + "."
				}
			}
		}
		if ended {
			s.atLineStart = true
		} else if line != "" {
			s.atLineStart = false
		}
		if s.inFence {
			continue
		}
		out.WriteString(line)
		if ended {
			out.WriteByte(' ')
		}
	}
	text := inlineStream(out.String())
	if prev := s.said.String(); prev == "" || strings.HasSuffix(prev, " ") {
		text = strings.TrimLeft(text, " ")
	}
	if text == "" {
		return nil
	}
	stop := false
	if n := utf8.RuneCountInString(text); s.max > 0 && s.runes+n > s.max {
		text, stop = cutWords(text, s.max-s.runes), true
		if text == "" && !endsSentence(strings.TrimSpace(s.said.String())) {
			// Nothing more fits: end what was said as a sentence.
			text = "."
		}
	}
	if text != "" {
		if err := s.emit(text); err != nil {
			return &SinkError{Err: err}
		}
		s.said.WriteString(text)
		s.runes += utf8.RuneCountInString(text)
	}
	if stop {
		s.stopped = true
		return errStopped
	}
	return nil
}

// inlineStream removes the markup inside a piece of a sentence, as inline
// does for a whole reply, keeping the piece's spacing at both ends so
// consecutive pieces read as one text.
func inlineStream(s string) string {
	s = stripInlineMarkup(s)
	s = strings.Map(func(r rune) rune {
		if isEmoji(r) || r == '*' || r == '`' || r == '~' || r == '#' {
			return -1
		}
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = spaceRe.ReplaceAllString(s, " ")
	s = spacePunct.ReplaceAllString(s, "$1")
	return emptyParens.ReplaceAllString(s, "")
}

// cutWords returns the words of s that fit in n runes, ended as a sentence.
func cutWords(s string, n int) string {
	if n <= 0 {
		return ""
	}
	runes := []rune(s)
	if len(runes) <= n {
		return s
	}
	cut := n
	for cut > 0 && !unicode.IsSpace(runes[cut]) {
		cut--
	}
	head := strings.TrimRight(string(runes[:cut]), " ,;:-–—")
	if head == "" {
		return ""
	}
	return endSentence(head)
}

// discard drops the text held back from an attempt that failed before
// saying it, so that the next attempt starts clean.
func (s *SpeechStream) discard() {
	s.pend = ""
}
