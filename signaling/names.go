package signaling

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Names are shown to everyone and decide who is who in a room, so two
// names that look the same must be the same name. A name is kept in
// Unicode normal form C (how it was meant to look, composed); two names
// are the same when their keys (nameKey: compatibility-normalised and
// case-folded) are equal, so "Boss", "BOSS", "ｂｏｓｓ" (full width) and
// "boss" with a composed or decomposed accent all claim one name.

// cleanName returns name in normal form C, or why it is refused: 1 to max
// characters of letters, digits, marks, spaces and "_-.", no leading or
// trailing space, and at least one character that is visible (a name of
// combining marks or Hangul fillers alone would show as nothing).
// Nothing that could look like markup or control text is allowed.
func cleanName(name string, max int) (string, error) {
	if name == "" {
		return "", fmt.Errorf("the name is empty")
	}
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("the name is not valid UTF-8")
	}
	if len(name) > 16*max {
		// Normalising is linear, but refuse absurd input before it.
		return "", fmt.Errorf("the name is too long; at most %d characters are allowed", max)
	}
	name = norm.NFC.String(name)
	if n := utf8.RuneCountInString(name); n > max {
		return "", fmt.Errorf("the name has %d characters; at most %d are allowed", n, max)
	}
	if strings.TrimSpace(name) != name {
		return "", fmt.Errorf("the name starts or ends with a space")
	}
	visible := false
	for _, r := range name {
		switch {
		case invisibleLetter(r):
		case unicode.IsLetter(r), unicode.IsDigit(r):
			visible = true
		case unicode.IsMark(r), r == ' ':
		case r == '_' || r == '-' || r == '.':
			visible = true
		default:
			return "", fmt.Errorf("the name contains %q; use letters, digits, spaces, _, - and dots", r)
		}
	}
	if !visible {
		return "", fmt.Errorf("the name shows nothing; use at least one letter or digit")
	}
	return name, nil
}

// invisibleLetter reports letters that render as blank: the Hangul
// fillers and the Khmer inherent vowels, which Unicode counts as letters
// or marks but fonts draw as nothing.
func invisibleLetter(r rune) bool {
	switch r {
	case 0x115F, 0x1160, 0x3164, 0xFFA0, // Hangul fillers
		0x17B4, 0x17B5: // Khmer inherent vowels
		return true
	}
	return unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r)
}

// nameKey is what two names are compared by: compatibility-normalised
// and case-folded.
func nameKey(name string) string {
	return norm.NFKC.String(cases.Fold().String(norm.NFKC.String(name)))
}

// sameName reports whether a and b claim one name.
func sameName(a, b string) bool { return nameKey(a) == nameKey(b) }
