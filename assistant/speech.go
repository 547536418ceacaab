package assistant

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Patterns for the markdown that models produce even when asked not to. They
// are applied in order by Speakable; the whole-line ones run per line.
var (
	fenceRe      = regexp.MustCompile("(?s)```.*?(```|$)|(?s)~~~.*?(~~~|$)")
	imageRe      = regexp.MustCompile(`!\[[^\]]*\]\([^)]*\)`)
	linkRe       = regexp.MustCompile(`\[([^\]]+)\]\([^)]*\)`)
	refLinkRe    = regexp.MustCompile(`\[([^\]]+)\]\[[^\]]*\]`)
	autoLinkRe   = regexp.MustCompile(`<(https?://|mailto:)[^>]*>`)
	urlRe        = regexp.MustCompile(`(?i)\b(https?://|www\.)[^\s<>()\[\]]+`)
	boldRe       = regexp.MustCompile(`\*\*([^*]+)\*\*|__([^_]+)__`)
	italicStarRe = regexp.MustCompile(`\*([^*\s][^*]*)\*`)
	italicUndRe  = regexp.MustCompile(`(^|[^\pL\pN_])_([^_\s][^_]*)_([^\pL\pN_]|$)`)
	strikeRe     = regexp.MustCompile(`~~([^~]+)~~`)
	codeRe       = regexp.MustCompile("`+([^`]*)`+")
	htmlTagRe    = regexp.MustCompile(`</?[a-zA-Z][^>]*>`)

	headingRe   = regexp.MustCompile(`^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$`)
	listItemRe  = regexp.MustCompile(`^\s*(?:[-*+•‣◦]|\d{1,3}[.)])\s+(.*)$`)
	quoteRe     = regexp.MustCompile(`^\s*>+\s?`)
	ruleRe      = regexp.MustCompile(`^\s*([-*_])(\s*[-*_]){2,}\s*$`)
	tableSepRe  = regexp.MustCompile(`^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$`)
	spaceRe     = regexp.MustCompile(`\s+`)
	emojiRe     = regexp.MustCompile("[ \t]*\x00+") // emoji, marked by inline, with the space before them
	spacePunct  = regexp.MustCompile(`\s+([,.])`)
	emptyParens = regexp.MustCompile(`\(\s*\)`)
	doublePunct = regexp.MustCompile(`([,;:])\s*([.!?])`)
	repeatComma = regexp.MustCompile(`,(\s*,)+`)
)

// Speakable turns a model's reply into text a phone voice can read: markdown
// is removed (code blocks entirely, links reduced to their text, web
// addresses dropped), list items become one sentence, emoji and extra
// whitespace go, and the result is cut at a sentence boundary so it holds at
// most maxChars characters (maxChars ≤ 0 means no limit). A text-to-speech
// engine reads markup literally, so none may reach <Say>.
func Speakable(text string, maxChars int) string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = fenceRe.ReplaceAllString(text, "\n")

	var sentences []string
	var items []string
	flush := func() {
		if len(items) > 0 {
			sentences = append(sentences, joinItems(items))
			items = nil
		}
	}
	for line := range strings.SplitSeq(text, "\n") {
		line = quoteRe.ReplaceAllString(line, "")
		switch {
		case strings.TrimSpace(line) == "", ruleRe.MatchString(line), tableSepRe.MatchString(line):
			flush()
		case listItemRe.MatchString(line):
			items = append(items, listItemRe.FindStringSubmatch(line)[1])
		case headingRe.MatchString(line):
			flush()
			sentences = append(sentences, endSentence(headingRe.FindStringSubmatch(line)[1]))
		case strings.Count(line, "|") >= 2:
			flush()
			sentences = append(sentences, endSentence(tableRow(line)))
		default:
			flush()
			sentences = append(sentences, line)
		}
	}
	flush()

	out := inline(strings.Join(sentences, " "))
	return truncate(out, maxChars)
}

// stripInlineMarkup removes images, links, URLs, code spans, emphasis and
// HTML tags, keeping the words they mark up. inline and inlineStream share
// it, so a streamed reply is cleaned exactly as a whole one.
func stripInlineMarkup(s string) string {
	s = imageRe.ReplaceAllString(s, "")
	s = linkRe.ReplaceAllString(s, "$1")
	s = refLinkRe.ReplaceAllString(s, "$1")
	s = autoLinkRe.ReplaceAllString(s, "")
	s = urlRe.ReplaceAllString(s, "")
	s = codeRe.ReplaceAllString(s, "$1")
	s = boldRe.ReplaceAllString(s, "$1$2")
	s = italicStarRe.ReplaceAllString(s, "$1")
	s = italicUndRe.ReplaceAllString(s, "$1$2$3")
	s = strikeRe.ReplaceAllString(s, "$1")
	s = htmlTagRe.ReplaceAllString(s, "")
	return s
}

// inline removes the markup that can appear inside a sentence.
func inline(s string) string {
	s = stripInlineMarkup(s)
	s = strings.Map(func(r rune) rune {
		if isEmoji(r) {
			return 0
		}
		if r == '*' || r == '`' || r == '~' {
			return -1
		}
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = emojiRe.ReplaceAllString(s, "")
	s = emptyParens.ReplaceAllString(s, "")
	s = spaceRe.ReplaceAllString(s, " ")
	s = spacePunct.ReplaceAllString(s, "$1")
	s = repeatComma.ReplaceAllString(s, ",")
	s = doublePunct.ReplaceAllString(s, "$2")
	s = strings.TrimSpace(s)
	return strings.TrimLeft(s, ",.;:!? ")
}

// joinItems reads a list as one sentence: items that are sentences of their
// own are read one after the other, short items are joined with commas.
func joinItems(items []string) string {
	full := false
	for i, it := range items {
		items[i] = strings.TrimSpace(it)
		if endsSentence(items[i]) {
			full = true
		}
	}
	if full {
		for i := range items {
			items[i] = endSentence(items[i])
		}
		return strings.Join(items, " ")
	}
	for i := range items {
		items[i] = strings.TrimRight(items[i], ",;:")
	}
	return endSentence(strings.Join(items, ", "))
}

// tableRow reads a markdown table row as its cells separated by commas.
func tableRow(line string) string {
	var cells []string
	for c := range strings.SplitSeq(line, "|") {
		if c = strings.TrimSpace(c); c != "" {
			cells = append(cells, c)
		}
	}
	return strings.Join(cells, ", ")
}

// endsSentence reports whether s already ends like a sentence.
func endsSentence(s string) bool {
	s = strings.TrimRight(s, `"'”’)»*_`)
	r, _ := utf8.DecodeLastRuneInString(s)
	return strings.ContainsRune(".!?。！？…", r)
}

// endSentence gives s a full stop unless it has one, so that a heading or a
// list read aloud does not run into the next sentence.
func endSentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || endsSentence(s) {
		return s
	}
	if r, _ := utf8.DecodeLastRuneInString(s); r == ':' {
		return s
	}
	return strings.TrimRight(s, ",;") + "."
}

// truncate cuts s to at most max runes: at the last sentence end that fits,
// else at the last word that fits, ended with a full stop. It never cuts a
// word in two.
func truncate(s string, max int) string {
	if max <= 0 || utf8.RuneCountInString(s) <= max {
		return s
	}
	runes := []rune(s)
	limit := runes[:max]
	// A sentence end is terminal punctuation followed by a space (or the
	// cut itself, when the next rune is a space).
	for i := len(limit) - 1; i > 0; i-- {
		if !strings.ContainsRune(".!?。！？…", limit[i]) {
			continue
		}
		next := ' '
		if i+1 < len(runes) {
			next = runes[i+1]
		}
		if unicode.IsSpace(next) || strings.ContainsRune("。！？", limit[i]) {
			return strings.TrimSpace(string(limit[:i+1]))
		}
	}
	cut := len(limit)
	if !unicode.IsSpace(runes[max]) {
		for cut > 0 && !unicode.IsSpace(limit[cut-1]) {
			cut--
		}
	}
	head := strings.TrimRight(string(limit[:cut]), " ,;:-–—")
	if head == "" {
		return ""
	}
	return endSentence(head)
}

// isEmoji reports whether r is a pictograph, a flag, a skin-tone modifier or
// one of the invisible joiners that build emoji sequences.
func isEmoji(r rune) bool {
	switch {
	case r >= 0x1F000 && r <= 0x1FAFF, // pictographs, emoticons, transport, flags, modifiers
		r >= 0x2600 && r <= 0x27BF,   // miscellaneous symbols and dingbats
		r >= 0x2B00 && r <= 0x2BFF,   // arrows and stars (⭐, ⬆)
		r >= 0x2190 && r <= 0x21FF,   // arrows
		r >= 0xFE00 && r <= 0xFE0F,   // variation selectors
		r >= 0xE0020 && r <= 0xE007F, // tag sequences
		r == 0x200D, r == 0x20E3, r == 0x2122, r == 0x2139, r == 0x3030, r == 0x303D:
		return true
	}
	return false
}
