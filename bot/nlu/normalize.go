// Package nlu turns a member's short, colloquial message into a
// bot.Understanding: which intent, which policy FAQ, which branch, how urgent.
// It works on unsegmented Chinese (simplified, traditional, GB→Big5 mojibake,
// pinyin, speech-recognised text) without a word segmenter: lexicon matching
// on the normalised text, pinyin matching for Latin runs and homophone place
// names, and character n-gram BM25 for the FAQs.
package nlu

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/longbridgeapp/opencc"
	"github.com/mozillazg/go-pinyin"
)

// Normalizer maps any way a member writes to one canonical form:
// half-width, simplified, lower-case toneless Latin, no mojibake brackets,
// punctuation as single spaces, filler words gone.
//
// OpenCC's Convert costs ~20 µs on a short string, most of it allocation in
// its trie walk, so the constructor reads OpenCC's own t2s dictionaries once
// into plain maps and Normalize applies the same longest-phrase-then-character
// rule itself. The conversion result is identical (see TestNormalizeMatchesOpenCC).
type Normalizer struct {
	chars       map[rune]rune   // TSCharacters, single rune → first simplified rune
	charsMulti  map[rune]string // the few characters whose simplified form is not one rune
	phrases     map[string]string
	phraseStart map[rune]int    // first rune of a TSPhrases key → its longest key, in runes
	toneless    map[rune]rune   // ā → a, ǚ → v: pinyin typed with tone marks
	reading     map[rune]string // a Han character's usual reading, toneless
	fillers     [][]rune        // dropped anywhere, longest first
	colloquial  map[rune][]swap // dialect word → standard word, by first rune, longest first
	particles   map[rune]bool   // dropped at the end of a clause only: 网吧 keeps its 吧
	cc          *opencc.OpenCC
}

// NewNormalizer loads OpenCC's t2s data. Build it once per process; it is
// safe for concurrent use.
func NewNormalizer() (*Normalizer, error) {
	cc, err := opencc.New("t2s")
	if err != nil {
		return nil, fmt.Errorf("opencc t2s: %w", err)
	}
	if len(cc.DictChains) != 1 || len(cc.DictChains[0].Dicts) != 2 {
		return nil, fmt.Errorf("opencc t2s: unexpected dictionary chain %v", cc.DictChains)
	}
	phraseDict, charDict := cc.DictChains[0].Dicts[0], cc.DictChains[0].Dicts[1]
	n := &Normalizer{
		chars:       make(map[rune]rune, 4200),
		charsMulti:  map[rune]string{},
		phrases:     map[string]string{},
		phraseStart: map[rune]int{},
		toneless:    map[rune]rune{},
		reading:     make(map[rune]string, len(pinyin.PinyinDict)),
		cc:          cc,
	}
	// The dictionaries cover CJK ideographs and their extensions; probing
	// that range keeps us independent of the trie's internals.
	for r := rune(0x2E80); r < 0x32000; r++ {
		s := string(r)
		m, err := charDict.PrefixMatch(s)
		if err != nil {
			return nil, fmt.Errorf("opencc TSCharacters: %w", err)
		}
		if v := m[s]; len(v) > 0 && v[0] != s {
			if utf8.RuneCountInString(v[0]) == 1 {
				c, _ := utf8.DecodeRuneInString(v[0])
				n.chars[r] = c
			} else {
				n.charsMulti[r] = v[0]
			}
		}
		for _, id := range phraseDict.Trie.PrefixPredict([]byte(s), 0) {
			k, err := phraseDict.Trie.Key(id)
			if err != nil {
				return nil, fmt.Errorf("opencc TSPhrases: %w", err)
			}
			vi, err := phraseDict.Trie.Value(id)
			if err != nil || vi >= len(phraseDict.Values) || len(phraseDict.Values[vi]) == 0 {
				return nil, fmt.Errorf("opencc TSPhrases: no value for %q", k)
			}
			n.phrases[string(k)] = phraseDict.Values[vi][0]
			if l := utf8.RuneCount(k); l > n.phraseStart[r] {
				n.phraseStart[r] = l
			}
		}
	}
	if len(n.chars) < 1000 || len(n.phrases) == 0 {
		return nil, fmt.Errorf("opencc t2s: dictionaries look empty (%d characters, %d phrases)", len(n.chars), len(n.phrases))
	}
	// Tone-marked and toneless readings of go-pinyin's data line up letter
	// for letter, which gives the tone-mark table without writing it out.
	tone, plain := pinyin.NewArgs(), pinyin.NewArgs()
	tone.Style, tone.Heteronym, plain.Heteronym = pinyin.Tone, true, true
	for r := range pinyin.PinyinDict {
		ts, ps := pinyin.SinglePinyin(rune(r), tone), pinyin.SinglePinyin(rune(r), plain)
		if len(ps) > 0 {
			n.reading[rune(r)] = ps[0]
		}
		if len(ts) != len(ps) {
			continue
		}
		for i := range ts {
			tr, pr := []rune(ts[i]), []rune(ps[i])
			if len(tr) != len(pr) {
				continue
			}
			for j := range tr {
				if tr[j] != pr[j] && tr[j] > unicode.MaxASCII && pr[j] <= unicode.MaxASCII {
					n.toneless[tr[j]] = pr[j]
				}
			}
		}
	}
	// Speech and chat fillers that carry no meaning for intent. Words that
	// begin content words are left alone: 哈 (哈喽), 额 (额度), 那么 (那么多).
	for _, f := range []string{"就是说", "那个", "这个", "就是", "然后", "嗯", "呃", "啊", "哎"} {
		n.fillers = append(n.fillers, []rune(f))
	}
	// Dialect and colloquial words become the standard word, so that the
	// lexicon, the FAQ index and the pinyin table need one spelling only.
	n.colloquial = map[rune][]swap{}
	for _, c := range colloquialWords() {
		from := []rune(c[0])
		n.colloquial[from[0]] = append(n.colloquial[from[0]], swap{from, []rune(c[1])})
	}
	for _, l := range n.colloquial {
		slices.SortStableFunc(l, func(a, b swap) int { return len(b.from) - len(a.from) })
	}
	n.particles = map[rune]bool{}
	for _, r := range "吧呢嘛呀哦噢呐啦" {
		n.particles[r] = true
	}
	return n, nil
}

// Normalize returns the canonical form of text. It never fails: what it
// does not understand it passes through.
func (n *Normalizer) Normalize(text string) string {
	rs := n.simplify(n.width(text))
	rs = n.dropBrackets(rs)
	return n.tidy(rs)
}

// Reading is a Han character's usual reading, toneless ("" for none).
func (n *Normalizer) Reading(r rune) string { return n.reading[r] }

// width folds full-width forms, lower-cases Latin and strips pinyin tone marks.
func (n *Normalizer) width(text string) []rune {
	out := make([]rune, 0, len(text))
	for _, r := range text {
		switch {
		case r == 0x3000:
			r = ' '
		case r >= 0xFF01 && r <= 0xFF5E:
			r -= 0xFEE0
		}
		if t, ok := n.toneless[r]; ok {
			r = t
		} else if t, ok := n.toneless[unicode.ToLower(r)]; ok {
			r = t
		}
		if r >= 'A' && r <= 'Z' {
			r += 'a' - 'A'
		}
		out = append(out, r)
	}
	return out
}

// simplify applies OpenCC t2s: at each position the longest TSPhrases key,
// else the TSCharacters entry, else the rune itself — OpenCC's own rule.
func (n *Normalizer) simplify(rs []rune) []rune {
	out := make([]rune, 0, len(rs))
	for i := 0; i < len(rs); {
		r := rs[i]
		if maxLen, ok := n.phraseStart[r]; ok {
			end := min(i+maxLen, len(rs))
			matched := false
			for j := end; j >= i+2; j-- {
				if v, ok := n.phrases[string(rs[i:j])]; ok {
					out = append(out, []rune(v)...)
					i, matched = j, true
					break
				}
			}
			if matched {
				continue
			}
		}
		if c, ok := n.chars[r]; ok {
			out = append(out, c)
		} else if s, ok := n.charsMulti[r]; ok {
			out = append(out, []rune(s)...)
		} else {
			out = append(out, r)
		}
		i++
	}
	return out
}

// dropBrackets removes what GB→Big5 converters leave after a character: its
// simplified form or its pinyin in brackets, as in 協(xié) or 協(协). Other
// bracketed text is kept; the brackets themselves become spaces later.
func (n *Normalizer) dropBrackets(rs []rune) []rune {
	out := make([]rune, 0, len(rs))
	for i := 0; i < len(rs); i++ {
		if rs[i] == '(' && len(out) > 0 && isHan(out[len(out)-1]) {
			if j := closing(rs, i); j > 0 && artefact(out[len(out)-1], rs[i+1:j]) {
				i = j
				continue
			}
		}
		out = append(out, rs[i])
	}
	return out
}

func closing(rs []rune, open int) int {
	for j := open + 1; j < len(rs) && j <= open+8; j++ {
		if rs[j] == ')' {
			return j
		}
	}
	return -1
}

// artefact reports whether inner, found in brackets right after prev, is the
// converter's note on prev rather than something the member wrote.
func artefact(prev rune, inner []rune) bool {
	if len(inner) == 0 {
		return false
	}
	if len(inner) == 1 && isHan(inner[0]) {
		// simplify already ran, so a faithful note now equals prev.
		return inner[0] == prev
	}
	if len(inner) > 7 {
		return false
	}
	for _, r := range inner {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	return true
}

// tidy turns punctuation, symbols and emoji into single spaces and removes
// filler words.
func (n *Normalizer) tidy(rs []rune) string {
	var b strings.Builder
	b.Grow(len(rs) * 3)
	space := true
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		if isHan(r) {
			if l := n.filler(rs[i:]); l > 0 {
				i += l - 1
				continue
			}
			if from, to := n.swap(rs[i:]); from > 0 {
				for _, c := range to {
					b.WriteRune(c)
				}
				i += from - 1
				space = false
				continue
			}
			if n.particles[r] && (i+1 == len(rs) || !isHan(rs[i+1])) {
				continue
			}
			b.WriteRune(r)
			space = false
			continue
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
			space = false
			continue
		}
		if !space {
			b.WriteByte(' ')
			space = true
		}
	}
	return strings.TrimRight(b.String(), " ")
}

func (n *Normalizer) filler(rs []rune) int {
next:
	for _, f := range n.fillers {
		if len(f) > len(rs) {
			continue
		}
		for k := range f {
			if rs[k] != f[k] {
				continue next
			}
		}
		return len(f)
	}
	return 0
}

// swap is one colloquial word and the standard word it stands for.
type swap struct{ from, to []rune }

// swap returns the length of the colloquial word rs starts with, if any,
// and its standard form.
func (n *Normalizer) swap(rs []rune) (int, []rune) {
next:
	for _, c := range n.colloquial[rs[0]] {
		if len(c.from) > len(rs) {
			continue
		}
		for k := range c.from {
			if rs[k] != c.from[k] {
				continue next
			}
		}
		return len(c.from), c.to
	}
	return 0, nil
}

func isHan(r rune) bool {
	return r >= 0x2E80 && unicode.Is(unicode.Han, r)
}
