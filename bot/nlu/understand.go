package nlu

import (
	"slices"

	"nuanjia/bot"
)

// Decision thresholds, set on testdata/dev.tsv (not on the evaluation set).
const (
	minIntent    = 1.5  // below this nothing was really said: unknown
	closeRatio   = 0.9  // second/top at or above this is "close": ask
	minClose     = 2.5  // …but only when both are real signals
	faqClear     = 1.35 // top FAQ this many times the second: a clear winner
	faqMinCover  = 0.18 // top FAQ's share of the query's idf mass to count at all
	policyFromIR = 3.0  // intent weight of a fully covered FAQ match
	statusCombo  = 4.0  // an earlier request plus a progress question
	branchWhere  = 2.0  // a named branch plus where/phone: its card
	eraseData    = 2.0  // an erase verb plus the data it erases
	harmWindow   = 8    // runes after 被/遭 in which a harm word makes it passive
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

	// Rune start offsets let substrings index the map without allocating.
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
	// Readings of each rune, looked up once for both sound-alike passes.
	rs := make([]rune, 0, nr)
	syls := make([][]int, 0, nr)
	for _, r := range norm {
		rs = append(rs, r)
		syls = append(syls, ix.syl[r])
	}
	ms, fixed := ix.soundAlikes(rs, syls, ms)
	// A word inside a longer word is not said on its own: 怎么办 in 怎么办理,
	// 求助 in 我的求助.
	kept := ms[:0]
	for a, m := range ms {
		inside := false
		for b, o := range ms {
			if a != b && !ix.entries[o.e].inert() && o.start <= m.start && m.end <= o.end && o.end-o.start > m.end-m.start {
				inside = true
				break
			}
		}
		if !inside {
			kept = append(kept, m)
		}
	}
	ms = kept

	var scores [nIntents]float64
	help, contact := intentIndex(bot.IntentHelp), intentIndex(bot.IntentContact)
	urgent := false
	branch, branchLen := -1, 0
	var boost []int
	var marks mark
	personalContact, contactAsk, trouble := 0.0, false, false
	for _, m := range ms {
		e := &ix.entries[m.e]
		for k, w := range e.weights {
			scores[k] += w
		}
		marks |= e.mark
		trouble = trouble || e.weights[help] >= 3
		if e.mark&markPersonal != 0 {
			personalContact += e.weights[contact]
		} else if e.weights[contact] >= 3 {
			contactAsk = true
		}
		urgent = urgent || e.urgent
		if e.branch >= 0 && ix.betterBranch(e.branch, m.end-m.start, branch, branchLen) {
			branch, branchLen = e.branch, m.end-m.start
		}
		boost = append(boost, e.faqs...)
	}
	if branch < 0 {
		branch = ix.homophonePlace(syls)
	}

	policy, visit, status := intentIndex(bot.IntentPolicy), intentIndex(bot.IntentVisit), intentIndex(bot.IntentStatus)
	asked := marks&markAsk != 0

	// "把我的电话地址删了": the phone and address are what to delete. Any
	// strong forget cue (删除我的, 不要保存) says so as well as 删 does.
	if marks&markErase != 0 || scores[intentIndex(bot.IntentForget)] >= 3 {
		scores[contact] -= personalContact
	} else if personalContact > 0 {
		contactAsk = true
	}
	// A verb that only sometimes erases (清掉) does when it has the member's
	// data for object: "把我登记的东西都清掉".
	if marks&(markErase|markPersonal) == markErase|markPersonal {
		scores[intentIndex(bot.IntentForget)] += eraseData
	}
	// Something done to the member ("被人堵在厕所打了") is a trouble even
	// when no single lexicon word names it.
	if !trouble && ix.passive(rs) {
		scores[help] += 3
		trouble = true
	}
	// "上次说的工伤的事现在有人管没有" asks after the earlier request; its
	// topic words only say which request.
	if marks&(markPast|markProgress) == markPast|markProgress {
		scores[status] += statusCombo
	}
	// A named branch with where/phone/how-to-get-there asks for its card,
	// unless the member also asks about a benefit or a procedure: FAQ text
	// that happens to mention the branch's facilities is no such evidence.
	whereCard := branch >= 0 && contactAsk && !asked
	// A concrete trouble ("被同学打", "劝退": one strong help cue, not
	// 麻烦 plus 怎么办) is help even when the words around it resemble a
	// FAQ; only an explicit procedural ask keeps it a policy question.
	trouble = trouble && !asked

	scratch := make([]float32, ix.faqs.nDocs)
	multi := make([]bool, ix.faqs.nDocs)
	query := norm
	if fixed != nil {
		// Retrieval should see the keyword as meant, not the typo.
		query = string(fixed)
	}
	top, mass, strong := ix.faqs.search(query, boost, scratch, multi)
	cover := 0.0
	if strong && top[0].doc >= 0 && mass > 0 {
		cover = min(1, top[0].score/mass)
	}
	if cover >= faqMinCover && !whereCard && !trouble {
		scores[policy] += policyFromIR * cover
	}
	if whereCard {
		scores[contact] += branchWhere
	} else if branch >= 0 {
		// A bare place name, or a place with little else, asks for its card.
		if scores[help] < 2 && scores[visit] < 2 && scores[policy] < 3 {
			scores[contact] += 2
		} else {
			scores[contact] += 0.5
		}
	}

	best, second := -1, -1
	for k := range scores {
		if best < 0 || scores[k] > scores[best] {
			best, second = k, best
		} else if second < 0 || scores[k] > scores[second] {
			second = k
		}
	}
	top1, top2 := scores[best], scores[second]
	if top1 < minIntent {
		return u
	}
	u.Intent = intents()[best]
	u.Score = min(1, top1/(top1+top2)*min(1, top1/4))
	if top2 >= minClose && top2 >= closeRatio*top1 && askable(intents()[best]) && askable(intents()[second]) {
		u.Choices = []bot.Intent{intents()[best], intents()[second]}
	}
	if branch >= 0 {
		u.Branch = ix.kb.Branches[branch].ID
	}
	u.Urgent = urgent && u.Intent == bot.IntentHelp
	if u.Intent == bot.IntentPolicy && top[0].doc >= 0 && cover >= faqMinCover {
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
func (ix *Index) homophonePlace(syls [][]int) int {
	best, bestLen := -1, 0
	for i, ss := range syls {
		for _, s := range ss {
			for _, p := range ix.places[s] {
				if len(p.syls) > len(syls)-i || !ix.betterBranch(p.branch, len(p.syls), best, bestLen) {
					continue
				}
				ok := true
				for k := 1; k < len(p.syls) && ok; k++ {
					ok = hasSyl(syls[i+k], p.syls[k])
				}
				if ok {
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
