package nlu

import (
	"slices"

	"nuanjia/bot"
)

// Decision thresholds, chosen by cross-validation on the training data
// (nuanjia classify --cv), never on a blind set.
const (
	// helpWins: a help probability at least this makes the message help
	// whatever else is likelier. Reading a help request as something
	// else costs a person in trouble; the reverse costs a director a
	// minute.
	helpWins = 0.25
	// urgentFrom: an urgency probability at least this flags the message.
	// Low on purpose: a missed emergency is the one error that must not
	// happen.
	urgentFrom = 0.1
	// closeRatio: a second intent this close to the first, while the
	// first is not sure (below sureFrom), is asked about.
	closeRatio = 0.6
	sureFrom   = 0.7
	// faqClear: the top FAQ this many times the second is a clear winner;
	// faqMinCover: its share of the query's idf mass to count at all.
	faqClear    = 1.35
	faqMinCover = 0.18
	// dangerSure: the emergency number is named only when its kind is
	// this likely; otherwise the reply gives 110, 120 and 119.
	dangerSure = 0.6
	harmWindow = 8 // runes after 被/遭 in which a harm word makes it passive
)

// match is a lexicon word found in the text, by rune offsets.
type match struct {
	start, end int
	e          int
}

// Understand classifies one member message. It never fails.
func (ix *Index) Understand(text string) bot.Understanding {
	u := bot.Understanding{Text: text, Intent: bot.IntentUnknown}
	norm := ix.resolvePinyin(ix.n.Normalize(text))
	u.Norm = norm
	if !meaningful(norm) {
		return u
	}
	a := ix.analyse(norm)
	feats := a.features()
	p := ix.models.Intent.Probabilities(feats)
	u.Urgent = ix.models.Urgent.Probabilities(urgencyFeatures(feats))[1] >= urgentFrom
	if u.Urgent {
		d := ix.models.Danger.Probabilities(feats)
		if k := slices.Index(d, slices.Max(d)); d[k] >= dangerSure {
			u.Danger = bot.Danger(ix.models.Danger.Classes[k])
		}
	}
	help := intentIndex(bot.IntentHelp)
	best, second := -1, -1
	for k := range p {
		if best < 0 || p[k] > p[best] {
			best, second = k, best
		} else if second < 0 || p[k] > p[second] {
			second = k
		}
	}
	if u.Urgent || p[help] >= helpWins {
		// Danger is help, and a likely help request is not left to a
		// likelier reading.
		if best != help {
			second = best
		}
		best = help
	}
	all := intents()
	u.Intent, u.Score = all[best], p[best]
	if u.Urgent {
		u.Score = max(u.Score, p[best]+p[second])
	}
	if !u.Urgent && p[best] < sureFrom && p[second] >= closeRatio*p[best] && askable(all[best]) && askable(all[second]) {
		u.Choices = []bot.Intent{all[best], all[second]}
	}
	if a.branch >= 0 {
		u.Branch = ix.kb.Branches[a.branch].ID
	}
	for _, b := range a.shared {
		u.Branches = append(u.Branches, ix.kb.Branches[b].ID)
	}
	top := a.top
	if u.Intent == bot.IntentPolicy && top[0].doc >= 0 && a.cover >= faqMinCover {
		if top[1].doc < 0 || top[0].score >= faqClear*top[1].score {
			u.FAQ = ix.kb.FAQs[top[0].doc].ID
		} else {
			for _, h := range top {
				if h.doc >= 0 && h.score >= top[0].score/2 {
					u.FAQs = append(u.FAQs, ix.kb.FAQs[h.doc].ID)
				}
			}
		}
	}
	return u
}

// passive reports whether rs has 被 or 遭 followed, within harmWindow runes
// of the same clause, by a harm word.
func (ix *Index) passive(rs []rune) bool {
	for i, r := range rs {
		if r != '被' && r != '遭' {
			continue
		}
		for k := i + 1; k < len(rs) && k <= i+harmWindow && rs[k] != ' '; k++ {
			for _, h := range ix.harm[rs[k]] {
				if len(h) <= len(rs)-k && slices.Equal(rs[k:k+len(h)], h) {
					return true
				}
			}
		}
	}
	return false
}

// askable intents are the ones the numbered question offers.
func askable(in bot.Intent) bool {
	switch in {
	case bot.IntentHelp, bot.IntentContact, bot.IntentPolicy, bot.IntentVisit, bot.IntentStatus:
		return true
	}
	return false
}

// betterBranch prefers a longer place name, and any branch over the county
// (安龙 is in every member's story; the branch where they are matters more).
func (ix *Index) betterBranch(b, l, cur, curLen int) bool {
	if cur < 0 {
		return true
	}
	bc, cc := ix.kb.Branches[b].ID == bot.CountyBranchID, ix.kb.Branches[cur].ID == bot.CountyBranchID
	if bc != cc {
		return cc
	}
	return l > curLen
}

// homophonePlace finds a place written with the wrong characters but the
// right sound: 凤凰 for 凤皇, 宏发 for 泓发.
//
// At least one character must be the place's own: 凤凰 keeps 凤 of 凤皇, but
// 都删 (dū shān, "delete it all") shares no character with 笃山 and is no
// place.
func (ix *Index) homophonePlace(rs []rune, syls [][]int) int {
	best, bestLen := -1, 0
	for i, ss := range syls {
		for _, s := range ss {
			for _, p := range ix.places[s] {
				if len(p.syls) > len(syls)-i || !ix.betterBranch(p.branch, len(p.syls), best, bestLen) {
					continue
				}
				ok, same := true, rs[i] == p.word[0]
				for k := 1; k < len(p.syls) && ok; k++ {
					ok = hasSyl(syls[i+k], p.syls[k])
					same = same || (k < len(p.word) && rs[i+k] == p.word[k])
				}
				if ok && same {
					best, bestLen = p.branch, len(p.syls)
				}
			}
		}
	}
	return best
}

// soundAlikes adds FAQ keywords written with one wrong character of the
// same sound (居住正 for 居住证). One wrong character only: a typo, not a
// different phrase that happens to sound alike. fixed is rs with the typos
// corrected, nil when there were none (the common case allocates nothing).
func (ix *Index) soundAlikes(rs []rune, syls [][]int, ms []match) (_ []match, fixed []rune) {
	for i, ss := range syls {
		for _, s := range ss {
			for _, q := range ix.sounds[s] {
				if len(q.syls) > len(rs)-i {
					continue
				}
				wrong := 0
				for k := 0; k < len(q.syls) && wrong <= 1; k++ {
					if rs[i+k] != q.word[k] {
						wrong++
						if !hasSyl(syls[i+k], q.syls[k]) {
							wrong = 2
						}
					}
				}
				// Two spellings of a heteronym can both fit: count once.
				if m := (match{i, i + len(q.syls), q.entry}); wrong == 1 && !slices.Contains(ms, m) {
					ms = append(ms, m)
					if fixed == nil {
						fixed = slices.Clone(rs)
					}
					copy(fixed[i:], q.word)
				}
			}
		}
	}
	return ms, fixed
}

func hasSyl(ids []int, id int) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func isLetterAt(s string, offs []int, i int) bool {
	if i < 0 || i >= len(offs)-1 {
		return false
	}
	c := s[offs[i]]
	return c >= 'a' && c <= 'z'
}

// meaningful reports whether the text has any Han or Latin letters: a bare
// number, emoji or punctuation is not a message we can understand.
func meaningful(norm string) bool {
	letters := 0
	for _, r := range norm {
		if isHan(r) {
			return true
		}
		if r >= 'a' && r <= 'z' {
			letters++
		}
	}
	return letters >= 2
}
