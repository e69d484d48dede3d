package nlu

import (
	"fmt"
	"strings"
)

// analysis is what the index reads in a normalised message before any
// decision: the lexicon words found (cue words, places, FAQ keywords,
// markers), the place named, the FAQs retrieval ranks first, and the
// signals the models learn from.
type analysis struct {
	words   []*entry // kept lexicon matches, in order
	marks   mark
	passive bool     // something done to the member (被/遭 + harm)
	branch  int      // index into kb.Branches, -1 none
	shared  []int    // the branches a shared place name could mean, when no branch is named
	sounds  []string // the message's syllables, toneless
	top     [3]hit   // FAQ retrieval's best
	cover   float64  // share of the query's idf mass the top FAQ covers
	danger  uint16   // the kinds of danger its words name
	kinds   []string // the lexicon's danger kinds, by bit
	runes   []rune   // the normalised text's runes
}

// analyse reads norm (already normalised and pinyin-resolved).
func (ix *Index) analyse(norm string) analysis {
	a := analysis{branch: -1, kinds: ix.dangerKinds}
	offs := make([]int, 0, len(norm)+1)
	for i := range norm {
		offs = append(offs, i)
	}
	offs = append(offs, len(norm))
	nr := len(offs) - 1

	var ms []match
	for i := 0; i < nr; i++ {
		for l := min(ix.lexMaxLen, nr-i); l >= 1; l-- {
			k, ok := ix.lex[norm[offs[i]:offs[i+l]]]
			if !ok {
				continue
			}
			if ix.entries[k].latin && (isLetterAt(norm, offs, i-1) || isLetterAt(norm, offs, i+l)) {
				continue
			}
			ms = append(ms, match{i, i + l, k})
		}
	}
	a.runes = make([]rune, 0, nr)
	syls := make([][]int, 0, nr)
	for _, r := range norm {
		a.runes = append(a.runes, r)
		syls = append(syls, ix.syl[r])
	}
	ms, fixed := ix.soundAlikes(a.runes, syls, ms)
	// A word inside a longer word is not said on its own: 怎么办 in 怎么办理,
	// 求助 in 我的求助.
	kept := ms[:0]
	for i, m := range ms {
		inside := false
		for j, o := range ms {
			if i != j && !ix.entries[o.e].inert() && o.start <= m.start && m.end <= o.end && o.end-o.start > m.end-m.start {
				inside = true
				break
			}
		}
		if !inside {
			kept = append(kept, m)
		}
	}
	branchLen := 0
	var boost []int
	for _, m := range kept {
		e := &ix.entries[m.e]
		a.words = append(a.words, e)
		a.marks |= e.mark
		a.danger |= e.danger
		if e.branch >= 0 && ix.betterBranch(e.branch, m.end-m.start, a.branch, branchLen) {
			a.branch, branchLen = e.branch, m.end-m.start
		}
		boost = append(boost, e.faqs...)
	}
	if a.branch < 0 {
		a.branch = ix.homophonePlace(a.runes, syls)
	}
	if a.branch < 0 {
		for _, e := range a.words {
			if e.branch == -2 {
				a.shared = e.shared
			}
		}
	}
	a.passive = ix.passive(a.runes)
	a.sounds = ix.syllables(a.runes)

	scratch := make([]float32, ix.faqs.nDocs)
	multi := make([]bool, ix.faqs.nDocs)
	query := norm
	if fixed != nil {
		// Retrieval should see the keyword as meant, not the typo.
		query = string(fixed)
	}
	top, mass, strong := ix.faqs.search(query, boost, scratch, multi)
	a.top = top
	if strong && top[0].doc >= 0 && mass > 0 {
		a.cover = min(1, top[0].score/mass)
	}
	return a
}

// features are what the models see of a message: its characters, one,
// two and three at a time (with the message's start and end, so "在吗"
// at the end differs from inside), its syllables two at a time (pinyin
// and characters alike), the lexicon words it holds, the
// markers together, whether it names a place, and how well the best FAQ
// covers it. Place names and FAQ keywords are features by kind, not by
// name, so the model serves any knowledge base.
func (a analysis) features() []string {
	out := make([]string, 0, 3*len(a.runes)+len(a.words)+8)
	rs := make([]rune, 0, len(a.runes)+2)
	rs = append(rs, '^')
	for _, r := range a.runes {
		if r != ' ' {
			rs = append(rs, r)
		}
	}
	rs = append(rs, '$')
	for n := 1; n <= 3; n++ {
		for i := 0; i+n <= len(rs); i++ {
			if n == 1 && (rs[i] == '^' || rs[i] == '$') {
				continue
			}
			out = append(out, "c:"+string(rs[i:i+n]))
		}
	}
	// Pairs of syllables: one alone is too common a sound to say much.
	for i := 1; i < len(a.sounds); i++ {
		out = append(out, "p:"+a.sounds[i-1]+"-"+a.sounds[i])
	}
	for _, e := range a.words {
		switch {
		case e.branch >= 0 || e.branch == -2:
			out = append(out, "place")
		case len(e.faqs) > 0 && e.inert():
			out = append(out, "kw")
		default:
			if !e.inert() || e.mark != 0 {
				out = append(out, "w:"+e.word)
			}
			if len(e.faqs) > 0 {
				out = append(out, "kw")
			}
		}
	}
	if a.branch >= 0 {
		out = append(out, "place")
	}
	if len(a.words) == 0 {
		// Not one word the association's vocabulary knows: most such
		// messages are about something else.
		out = append(out, "w:none")
	}
	for _, m := range []struct {
		name string
		mark mark
	}{{"past", markPast}, {"progress", markProgress}, {"erase", markErase}, {"personal", markPersonal}, {"ask", markAsk}} {
		if a.marks&m.mark != 0 {
			out = append(out, "m:"+m.name)
		}
	}
	if a.marks&(markPast|markProgress) == markPast|markProgress {
		out = append(out, "m:past+progress")
	}
	if a.marks&(markErase|markPersonal) == markErase|markPersonal {
		out = append(out, "m:erase+personal")
	}
	if a.passive {
		out = append(out, "m:passive")
	}
	if a.danger != 0 {
		out = append(out, "m:urgent-word")
	}
	for k := range a.kinds {
		if a.danger&(1<<k) != 0 {
			out = append(out, "d:"+a.kinds[k])
		}
	}
	for _, t := range []float64{0.18, 0.35, 0.6} {
		if a.cover >= t {
			out = append(out, fmt.Sprintf("faq>=%.2f", t))
		}
	}
	switch n := len(a.runes); {
	case n <= 4:
		out = append(out, "len:short")
	case n <= 12:
		out = append(out, "len:mid")
	default:
		out = append(out, "len:long")
	}
	return out
}

// urgencyFeatures are the features the urgency model reads: all but the
// message's length and how well a FAQ covers it. Danger is no shorter or
// longer than calm, and a question's shape says nothing of it; with them
// the model learned that "紧急求助" (short) and "羊水破了 咋个办" (a
// pregnancy FAQ's words) were calm.
func urgencyFeatures(feats []string) []string {
	out := make([]string, 0, len(feats))
	for _, f := range feats {
		if !strings.HasPrefix(f, "len:") && !strings.HasPrefix(f, "faq>=") {
			out = append(out, f)
		}
	}
	return out
}

// syllables are the message's sounds: each Han character's usual reading
// and toneless pinyin cut into syllables, so that "xue liu bu zhu", 血流不住
// and a homophone typo of it share features.
func (ix *Index) syllables(rs []rune) []string {
	out := make([]string, 0, len(rs))
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case isHan(r):
			if py := ix.n.Reading(r); py != "" {
				out = append(out, py)
			}
			i++
		case r >= 'a' && r <= 'z':
			j := i
			for j < len(rs) && rs[j] >= 'a' && rs[j] <= 'z' {
				j++
			}
			out = append(out, ix.cutSyllables(string(rs[i:j]))...)
			i = j
		default:
			i++
		}
	}
	return out
}

// cutSyllables cuts a run of toneless pinyin into syllables, longest
// first; letters that spell no syllable are dropped.
func (ix *Index) cutSyllables(run string) []string {
	var out []string
	for i := 0; i < len(run); {
		n := 0
		for l := min(6, len(run)-i); l >= 1; l-- {
			if ix.pySyl[run[i:i+l]] {
				n = l
				break
			}
		}
		if n == 0 {
			i++
			continue
		}
		out = append(out, run[i:i+n])
		i += n
	}
	return out
}

// Features are the model features of a text, for training and for the
// classify tool's explanations.
func (ix *Index) Features(text string) []string {
	norm := ix.resolvePinyin(ix.n.Normalize(text))
	if !meaningful(norm) {
		return []string{"empty"}
	}
	return ix.analyse(norm).features()
}
