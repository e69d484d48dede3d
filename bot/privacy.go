package bot

import (
	"regexp"
	"strings"
)

// PhoneMasker finds mainland phone numbers in text: mobiles (1[3-9] and
// nine more digits, with or without +86) and landlines (a 0 area code
// and 7–8 digits), spaces or dashes allowed between groups. Built once per
// process and passed down.
type PhoneMasker struct {
	runs *regexp.Regexp
}

// NewPhoneMasker compiles the pattern for runs of digits.
func NewPhoneMasker() PhoneMasker {
	return PhoneMasker{runs: regexp.MustCompile(`\+?\d[\d -]*\d`)}
}

// isPhone reports whether digits (a run with spaces and dashes removed)
// is a mainland phone number.
func isPhone(digits string) bool {
	digits = strings.TrimPrefix(digits, "+")
	if strings.HasPrefix(digits, "86") && len(digits) == 13 {
		digits = digits[2:]
	}
	switch {
	case len(digits) == 11 && digits[0] == '1' && digits[1] >= '3' && digits[1] <= '9':
		return true
	case digits[0] == '0' && len(digits) >= 10 && len(digits) <= 12:
		return true
	}
	return false
}

var phoneSeparators = strings.NewReplacer(" ", "", "-", "")

// Mask replaces every phone number's digits but the first three and last
// two by "*": the member can still tell which number it was, nobody can
// dial it.
func (p PhoneMasker) Mask(text string) string {
	return p.runs.ReplaceAllStringFunc(text, func(run string) string {
		if !isPhone(phoneSeparators.Replace(run)) {
			return run
		}
		n := countDigits(run)
		var b strings.Builder
		seen := 0
		for _, r := range run {
			if r >= '0' && r <= '9' {
				seen++
				if seen > 3 && seen <= n-2 {
					r = '*'
				}
			}
			b.WriteRune(r)
		}
		return b.String()
	})
}

// Valid reports whether s is one phone number and nothing else, and
// returns it without spaces and dashes.
func (p PhoneMasker) Valid(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if !p.runs.MatchString(s) || p.runs.FindString(s) != s {
		return "", false
	}
	d := phoneSeparators.Replace(s)
	return d, isPhone(d)
}

func countDigits(s string) int {
	n := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			n++
		}
	}
	return n
}
