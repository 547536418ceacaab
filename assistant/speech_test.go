package assistant

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSpeakable(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"PlainTextUnchanged", "We open at nine. See you soon!", 400, "We open at nine. See you soon!"},
		{"BoldItalicCodeStripped", "We are **open** *every* day, use code `SPRING` and __save__ _now_.", 400,
			"We are open every day, use code SPRING and save now."},
		{"SnakeCaseKept", "The field is named follow_up_needed.", 400, "The field is named follow_up_needed."},
		{"HeadingBecomesSentence", "## Opening hours\nMonday to Friday, nine to six.", 400,
			"Opening hours. Monday to Friday, nine to six."},
		{"CodeFenceDropped", "Here is how:\n```go\nfmt.Println(\"hi\")\n```\nThat is all.", 400, "Here is how: That is all."},
		{"UnclosedFenceDropped", "Try this:\n```\nrm -rf /", 400, "Try this:"},
		{"LinkBecomesText", "Book on [our website](https://example.com/book) today.", 400, "Book on our website today."},
		{"BareURLRemoved", "Visit https://example.com/help?x=1 or www.example.org for details.", 400, "Visit or for details."},
		{"URLInParensRemoved", "Check our site (https://example.com).", 400, "Check our site."},
		{"ImageDropped", "![logo](https://x/logo.png) Welcome.", 400, "Welcome."},
		{"BulletListBecomesSentence", "We offer:\n- haircuts\n- colouring\n- styling\nWhich one?", 400,
			"We offer: haircuts, colouring, styling. Which one?"},
		{"NumberedListOfSentences", "Steps:\n1. Bring your card.\n2) Come before noon\n3. Ask at the desk!", 400,
			"Steps: Bring your card. Come before noon. Ask at the desk!"},
		{"TableRead", "| Day | Hours |\n|---|---|\n| Mon | 9-5 |", 400, "Day, Hours. Mon, 9-5."},
		{"QuoteAndRuleStripped", "> Note this\n---\nDone.", 400, "Note this Done."},
		{"EmojiRemoved", "Great 😀👍🏽! See you 🇫🇷 soon ❤️.", 400, "Great! See you soon."},
		{"WhitespaceCollapsed", "  Hello,\t\tthere \n\n  friend . ", 400, "Hello, there friend."},
		{"HTMLTagsRemoved", "Call us <b>today</b>.<br>Thanks.", 400, "Call us today.Thanks."},
		{"CutAtSentenceBoundary", "First sentence here. Second sentence is longer than the limit allows.", 30,
			"First sentence here."},
		{"CutAtWordWhenNoSentence", "one two three four five six seven eight", 16, "one two three."},
		{"CutDropsTrailingComma", "alpha, beta, gamma, delta", 13, "alpha, beta."},
		{"CutKeepsDecimalNumber", "The price is 3.50 dollars for each visit today", 20, "The price is 3.50."},
		{"NoLimit", strings.Repeat("word ", 3) + "end.", 0, "word word word end."},
		{"OnlyCodeIsEmpty", "```\ncode\n```", 400, ""},
		{"NonLatinKept", "Bonjour, nous sommes ouverts à 9 h. Guten Tag!", 400, "Bonjour, nous sommes ouverts à 9 h. Guten Tag!"},
		{"CJKCut", "こんにちは。営業時間は九時からです。", 8, "こんにちは。"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Speakable(tt.in, tt.max)
			if got != tt.want {
				t.Errorf("Speakable(%q, %d)\n got %q\nwant %q", tt.in, tt.max, got, tt.want)
			}
			if tt.max > 0 && utf8.RuneCountInString(got) > tt.max {
				t.Errorf("Speakable returned %d runes, limit %d", utf8.RuneCountInString(got), tt.max)
			}
		})
	}
}

func TestSpeakableLongReplyIsBounded(t *testing.T) {
	long := strings.Repeat("This is a fairly long sentence about our services. ", 40)
	got := Speakable(long, DefaultModelConfig().MaxReplyChars)
	if n := utf8.RuneCountInString(got); n > DefaultModelConfig().MaxReplyChars || n < DefaultModelConfig().MaxReplyChars/2 {
		t.Fatalf("got %d runes, want between %d and %d", n, DefaultModelConfig().MaxReplyChars/2, DefaultModelConfig().MaxReplyChars)
	}
	if !strings.HasSuffix(got, "services.") {
		t.Fatalf("reply not cut at a sentence end: %q", got[len(got)-30:])
	}
}
