package nlu

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/mozillazg/go-pinyin"

	"nuanjia/bot"
)

const nIntents = 9

// intents is the order of the score vector; a function so it stays constant.
func intents() [nIntents]bot.Intent {
	return [nIntents]bot.Intent{bot.IntentHelp, bot.IntentContact, bot.IntentPolicy, bot.IntentVisit,
		bot.IntentStatus, bot.IntentGreeting, bot.IntentStop, bot.IntentForget, bot.IntentUnknown}
}

func intentIndex(in bot.Intent) int {
	all := intents()
	return slices.Index(all[:], in)
}

// entry is everything a word in the normalised text can tell us.
type entry struct {
	word   string // the normalised surface, a feature of the models
	cue    bool   // a vocabulary word (lexicon.yaml's cues)
	danger uint16 // the kinds of danger it names (bit i: lexicon danger[i])
	branch int    // index into kb.Branches, -1 none, -2 a name several branches share
	shared []int  // for -2, the branches that share the name (隆林: the three Longlin branches)
	faqs   []int
	latin  bool // must match a whole Latin word
	mark   mark // how the word changes other words' weight
}

// mark is a set of markers (see markerWords) a word carries.
type mark uint8

const (
	markPast mark = 1 << iota
	markProgress
	markErase
	markPersonal
	markAsk
)

// inert reports whether the entry only marks: it must not hide the
// weighted words inside it (申请 in the marker 我申请).
func (e *entry) inert() bool {
	return !e.cue && e.branch == -1 && len(e.faqs) == 0
}

// Index is an immutable view of one Knowledge, safe for concurrent use.
type Index struct {
	n        *Normalizer
	kb       bot.Knowledge
	branchID map[string]int
	faqID    map[string]int

	lex       map[string]int // normalised surface → entries index
	entries   []entry
	lexMaxLen int // in runes

	py      pyTrie             // toneless pinyin of lexicon words → surface
	pySyl   map[string]bool    // every toneless Mandarin syllable, for syllable boundaries
	english map[string]bool    // Latin words that are not pinyin
	syl     map[rune][]int     // readings of runes that occur in place names' or FAQ keywords' syllables
	places  map[int][]placeSeq // first syllable → place spellings
	sounds  map[int][]soundSeq // first syllable → FAQ keyword spellings
	harm    map[rune][][]rune  // passiveHarm words by first rune
	// dangerKinds are the lexicon's kinds of danger, entry.danger's bits.
	dangerKinds []string
	faqs        *bm25
	models      Models  // the trained intent, urgency and danger models
	lexicon     lexicon // the vocabulary (lexicon.yaml)
}

// placeSeq is one pinyin spelling of a place, for homophone matches
// (凤凰 for 凤皇, 宏发 for 泓发).
type placeSeq struct {
	syls   []int
	word   []rune // the place as the knowledge base writes it
	branch int
}

// soundSeq is one pinyin spelling of a FAQ keyword of three or more
// characters, for sound-alike typos (居住正 for 居住证, 准生正 for 准生证).
type soundSeq struct {
	syls  []int
	word  []rune
	entry int
}

// New builds the index. It validates kb first; a knowledge base that does
// not validate is refused.
func New(n *Normalizer, kb bot.Knowledge) (*Index, error) {
	m, err := ShippedModels()
	if err != nil {
		return nil, err
	}
	return NewWithModels(n, kb, m)
}

// NewWithModels builds the index deciding with models instead of the
// shipped ones: training, cross-validation, a retrained candidate. Zero
// Models give an index that only reads features (Features), for training.
func NewWithModels(n *Normalizer, kb bot.Knowledge, m Models) (*Index, error) {
	ix, err := newIndex(n, kb, modeUniBi)
	if err != nil {
		return nil, err
	}
	ix.models = m
	return ix, nil
}

func newIndex(n *Normalizer, kb bot.Knowledge, mode ngramMode) (*Index, error) {
	if n == nil {
		return nil, fmt.Errorf("nlu.New: nil Normalizer")
	}
	// An empty knowledge base is allowed: a server started before the first
	// import still greets members and keeps their messages.
	if len(kb.Branches)+len(kb.FAQs) > 0 {
		if err := Validate(kb); err != nil {
			return nil, err
		}
	}
	ix := &Index{
		n:        n,
		kb:       kb,
		branchID: map[string]int{},
		faqID:    map[string]int{},
		lex:      map[string]int{},
		english:  englishWords(),
	}
	for i, b := range kb.Branches {
		ix.branchID[b.ID] = i
	}
	for i, f := range kb.FAQs {
		ix.faqID[f.ID] = i
	}
	get := func(word string) *entry {
		w := n.Normalize(word)
		w = strings.ReplaceAll(w, " ", "")
		if w == "" {
			return nil
		}
		k, ok := ix.lex[w]
		if !ok {
			k = len(ix.entries)
			ix.lex[w] = k
			ix.entries = append(ix.entries, entry{word: w, branch: -1, latin: isLatinWord(w)})
			ix.lexMaxLen = max(ix.lexMaxLen, utf8.RuneCountInString(w))
		}
		return &ix.entries[k]
	}
	// Places first: a word that names a place is a place even if it is also
	// a cue, and an ambiguous name (two branches) names none.
	placeWords := map[string]bool{}
	for bi, b := range kb.Branches {
		for _, p := range append([]string{b.Name}, b.Places...) {
			e := get(p)
			if e == nil {
				continue
			}
			placeWords[p] = true
			if e.branch >= 0 && e.branch != bi {
				e.shared = []int{e.branch}
				e.branch = -2
			} else if e.branch == -1 {
				e.branch = bi
			}
			if e.branch == -2 && !slices.Contains(e.shared, bi) {
				e.shared = append(e.shared, bi)
			}
		}
	}
	for fi, f := range kb.FAQs {
		for _, kw := range f.Keywords {
			if e := get(kw); e != nil {
				if !slices.Contains(e.faqs, fi) {
					e.faqs = append(e.faqs, fi)
				}
			}
		}
	}
	// Longer everyday names of a keyword's benefit (奖扶金 for 奖扶) point
	// at the same FAQs; being three characters long they also get
	// sound-alike matching (奖服金).
	for _, a := range keywordAliases() {
		k, ok := ix.lex[strings.ReplaceAll(n.Normalize(a[1]), " ", "")]
		if !ok || len(ix.entries[k].faqs) == 0 {
			continue
		}
		faqs := slices.Clone(ix.entries[k].faqs)
		if e := get(a[0]); e != nil {
			for _, fi := range faqs {
				if !slices.Contains(e.faqs, fi) {
					e.faqs = append(e.faqs, fi)
				}
			}
		}
	}
	lex, err := loadLexicon()
	if err != nil {
		return nil, err
	}
	ix.lexicon = lex
	for _, c := range lex.Cues {
		for _, w := range c.Words {
			if e := get(w); e != nil {
				e.cue = true
			}
		}
	}
	marks := map[string]mark{"past": markPast, "progress": markProgress, "erase": markErase, "personal": markPersonal, "ask": markAsk}
	for name, l := range lex.Markers {
		for _, w := range l.Words {
			if e := get(w); e != nil {
				e.mark |= marks[name]
			}
		}
	}
	for k, d := range lex.Danger {
		ix.dangerKinds = append(ix.dangerKinds, d.Kind)
		for _, w := range d.Words {
			if e := get(w); e != nil {
				e.danger |= 1 << k
			}
		}
	}
	ix.harm = map[rune][][]rune{}
	for _, h := range lex.PassiveHarm.Words {
		rs := []rune(n.Normalize(h))
		ix.harm[rs[0]] = append(ix.harm[rs[0]], rs)
	}
	ix.buildPinyin(placeWords)
	ix.faqs = newBM25(n, kb.FAQs, mode)
	return ix, nil
}

func isLatinWord(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return s != ""
}

// Knowledge returns the knowledge base the index was built from.
func (ix *Index) Knowledge() bot.Knowledge { return ix.kb }

// Branch looks a branch up by id.
func (ix *Index) Branch(id string) (bot.Branch, bool) {
	i, ok := ix.branchID[id]
	if !ok {
		return bot.Branch{}, false
	}
	return ix.kb.Branches[i], true
}

// FAQ looks a FAQ up by id.
func (ix *Index) FAQ(id string) (bot.FAQ, bool) {
	i, ok := ix.faqID[id]
	if !ok {
		return bot.FAQ{}, false
	}
	return ix.kb.FAQs[i], true
}

// Nearest returns the branch closest to (lat, lng) by great-circle distance.
func (ix *Index) Nearest(lat, lng float64) (bot.Branch, float64, bool) {
	best, bestKm := -1, math.Inf(1)
	for i, b := range ix.kb.Branches {
		if d := haversineKm(lat, lng, b.Lat, b.Lng); d < bestKm {
			best, bestKm = i, d
		}
	}
	if best < 0 {
		return bot.Branch{}, 0, false
	}
	return ix.kb.Branches[best], bestKm, true
}

func haversineKm(lat1, lng1, lat2, lng2 float64) float64 {
	const earthKm = 6371.0088 // mean radius
	rad := math.Pi / 180
	dLat, dLng := (lat2-lat1)*rad, (lng2-lng1)*rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) +
		math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLng/2)*math.Sin(dLng/2)
	return 2 * earthKm * math.Asin(math.Min(1, math.Sqrt(a)))
}

// ---- pinyin ----

// pyTrie maps toneless pinyin (letters only) to a lexicon surface.
type pyTrie struct {
	next    [][26]int32
	surface []string
}

func (t *pyTrie) insert(key, surface string) {
	if len(t.next) == 0 {
		t.next, t.surface = make([][26]int32, 1), make([]string, 1)
	}
	node := 0
	for i := 0; i < len(key); i++ {
		c := key[i] - 'a'
		if t.next[node][c] == 0 {
			t.next = append(t.next, [26]int32{})
			t.surface = append(t.surface, "")
			t.next[node][c] = int32(len(t.next) - 1)
		}
		node = int(t.next[node][c])
	}
	if t.surface[node] == "" {
		t.surface[node] = surface
	}
}

// readings gives the toneless readings of every rune of s (heteronyms
// included), or nil if s is not all Han.
func readings(s string) [][]string {
	a := pinyin.NewArgs()
	a.Heteronym = true
	a.Fallback = func(rune, pinyin.Args) []string { return nil }
	rs := []rune(s)
	out := pinyin.Pinyin(s, a)
	if len(out) != len(rs) {
		return nil
	}
	return out
}

// spellings expands per-rune readings into whole-word spellings, first
// readings first, capped so that a word of many heteronyms stays cheap.
func spellings(rd [][]string, limit int) [][]string {
	acc := [][]string{{}}
	for _, opts := range rd {
		var nextAcc [][]string
		for _, p := range acc {
			for k, o := range opts {
				if k > 0 && len(nextAcc) >= limit {
					break
				}
				nextAcc = append(nextAcc, append(slices.Clone(p), o))
			}
		}
		acc = nextAcc
	}
	return acc
}

func (ix *Index) buildPinyin(placeWords map[string]bool) {
	// Insertion order decides collisions: places, then longer words.
	words := make([]string, 0, len(ix.lex))
	for w := range ix.lex {
		words = append(words, w)
	}
	slices.SortFunc(words, func(a, b string) int {
		pa, pb := ix.entries[ix.lex[a]].branch != -1, ix.entries[ix.lex[b]].branch != -1
		if pa != pb {
			if pa {
				return -1
			}
			return 1
		}
		if la, lb := utf8.RuneCountInString(a), utf8.RuneCountInString(b); la != lb {
			return lb - la
		}
		return strings.Compare(a, b)
	})
	sylID := map[string]int{}
	ix.places = map[int][]placeSeq{}
	ix.sounds = map[int][]soundSeq{}
	for _, w := range words {
		if utf8.RuneCountInString(w) < 2 {
			continue
		}
		rd := readings(w)
		if rd == nil {
			continue
		}
		e := ix.entries[ix.lex[w]]
		// Only FAQ keywords get sound-alike matching: they are long, rare
		// words, whereas a cue like 有人管 has homophones in ordinary
		// phrases (有人关注).
		keyword := e.branch < 0 && len(e.faqs) > 0 && len(rd) >= 3
		// Typed pinyin of a two-character word is read with each
		// character's usual reading only: go-pinyin also lists rare readings
		// (助 chú), and two syllables spelled with one of those are far more
		// often another, common word (bu chu = 不出, not 补助). Longer words
		// are distinctive enough to keep their heteronyms (yinhang for 银行).
		typed := rd
		if len(rd) == 2 {
			typed = [][]string{rd[0][:1], rd[1][:1]}
		}
		for _, sp := range spellings(typed, 4) {
			ix.py.insert(strings.Join(sp, ""), w)
		}
		for _, sp := range spellings(rd, 4) {
			if e.branch < 0 && !keyword {
				continue
			}
			var syls []int
			for _, s := range sp {
				id, ok := sylID[s]
				if !ok {
					id = len(sylID)
					sylID[s] = id
				}
				syls = append(syls, id)
			}
			if keyword {
				ix.sounds[syls[0]] = append(ix.sounds[syls[0]], soundSeq{syls, []rune(w), ix.lex[w]})
			} else {
				ix.places[syls[0]] = append(ix.places[syls[0]], placeSeq{syls, []rune(w), e.branch})
			}
		}
	}
	// Readings of every rune that could spell such a syllable, from
	// go-pinyin's table, made toneless with the Normalizer's tone map.
	ix.syl = map[rune][]int{}
	ix.pySyl = map[string]bool{}
	for r, s := range pinyin.PinyinDict {
		var ids []int
		for _, rd := range strings.Split(s, ",") {
			var b strings.Builder
			for _, c := range rd {
				if t, ok := ix.n.toneless[c]; ok {
					c = t
				}
				b.WriteRune(c)
			}
			// Vowelless interjections (m, n, ng, hm) would let almost any
			// letter run split anywhere; they are no boundary evidence.
			if sy := b.String(); isLatinWord(sy) && strings.ContainsAny(sy, "aeiouv") {
				ix.pySyl[sy] = true
			}
			if id, ok := sylID[b.String()]; ok && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
		if ids != nil {
			ix.syl[rune(r)] = ids
		}
	}
}

// resolvePinyin rewrites Latin runs that spell lexicon words in pinyin
// ("longlin xinzhou dianhua") as those words, so everything downstream sees
// Chinese. Spaces inside a run are ignored: members split syllables freely.
func (ix *Index) resolvePinyin(norm string) string {
	hasLatin := false
	for i := 0; i < len(norm); i++ {
		if norm[i] >= 'a' && norm[i] <= 'z' {
			hasLatin = true
			break
		}
	}
	if !hasLatin || len(ix.py.next) == 0 {
		return norm
	}
	var out strings.Builder
	var run []byte   // letters of the pending non-English words
	var starts []int // where in run each typed word starts
	flush := func() {
		if len(run) > 0 {
			ix.segment(&out, run, starts)
			run, starts = run[:0], starts[:0]
		}
	}
	for i := 0; i < len(norm); {
		c := norm[i]
		if c >= 'a' && c <= 'z' {
			j := i
			for j < len(norm) && norm[j] >= 'a' && norm[j] <= 'z' {
				j++
			}
			w := norm[i:j]
			if ix.english[w] {
				flush()
				out.WriteByte(' ')
				out.WriteString(w)
				out.WriteByte(' ')
			} else {
				starts = append(starts, len(run))
				run = append(run, w...)
			}
			i = j
			continue
		}
		if c == ' ' && len(run) > 0 && i+1 < len(norm) && norm[i+1] >= 'a' && norm[i+1] <= 'z' {
			i++
			continue
		}
		flush()
		out.WriteByte(c)
		i++
	}
	flush()
	return strings.Join(strings.Fields(out.String()), " ")
}

// segment covers letters with as many lexicon spellings as possible
// (fewest pieces on a tie) and writes the surfaces; uncovered letters are
// kept, typed words set off by spaces. A spelling must start and end on a
// syllable boundary of what the member typed, so a word is rewritten only
// when whole syllables spell it: "xinzhou" (xin|zhou) never yields a word
// spelled "xinz…" or "…nzhou".
func (ix *Index) segment(out *strings.Builder, letters []byte, starts []int) {
	n := len(letters)
	cut := ix.syllableCuts(letters, starts)
	type cell struct{ covered, pieces, from, node int }
	best := make([]cell, n+1)
	for i := 1; i <= n; i++ {
		best[i] = cell{covered: -1}
	}
	better := func(a, b cell) bool {
		return a.covered > b.covered || (a.covered == b.covered && a.pieces < b.pieces)
	}
	for i := 0; i < n; i++ {
		if best[i].covered < 0 || !cut[i] {
			continue
		}
		// Leave the next syllable (or unparsed word) as typed.
		next := i + 1
		for next < n && !cut[next] {
			next++
		}
		if skip := (cell{best[i].covered, best[i].pieces, i, -1}); better(skip, best[next]) {
			best[next] = skip
		}
		node := 0
		for j := i; j < n; j++ {
			node = int(ix.py.next[node][letters[j]-'a'])
			if node == 0 {
				break
			}
			if ix.py.surface[node] != "" && cut[j+1] {
				c := cell{best[i].covered + j + 1 - i, best[i].pieces + 1, i, node}
				if better(c, best[j+1]) {
					best[j+1] = c
				}
			}
		}
	}
	var pieces []string
	for i := n; i > 0; {
		c := best[i]
		if c.node > 0 {
			pieces = append(pieces, ix.py.surface[c.node])
			i = c.from
			continue
		}
		j := i
		for j > 0 && best[j].node <= 0 {
			j = best[j].from
		}
		var b strings.Builder
		b.WriteByte(' ')
		for k := j; k < i; k++ {
			if k > j && slices.Contains(starts, k) {
				b.WriteByte(' ')
			}
			b.WriteByte(letters[k])
		}
		b.WriteByte(' ')
		pieces = append(pieces, b.String())
		i = j
	}
	for k := len(pieces) - 1; k >= 0; k-- {
		out.WriteString(pieces[k])
	}
}

// syllableCuts marks the positions of letters where a spelling may start or
// end: the edges of each typed word, and inside a word every boundary of
// some split of the whole word into Mandarin syllables. A word that splits
// no way (English, a typo) can only be taken whole.
func (ix *Index) syllableCuts(letters []byte, starts []int) []bool {
	n := len(letters)
	cut := make([]bool, n+1)
	fwd, bwd := make([]bool, n+1), make([]bool, n+1)
	const maxSyl = 6 // zhuang, shuang
	for w, a := range starts {
		b := n
		if w+1 < len(starts) {
			b = starts[w+1]
		}
		cut[a], cut[b] = true, true
		fwd[a] = true
		for i := a; i < b; i++ {
			if !fwd[i] {
				continue
			}
			for j := i + 1; j <= min(b, i+maxSyl); j++ {
				if ix.pySyl[string(letters[i:j])] {
					fwd[j] = true
				}
			}
		}
		if !fwd[b] {
			continue
		}
		bwd[b] = true
		for j := b; j > a; j-- {
			if !bwd[j] {
				continue
			}
			for i := j - 1; i >= max(a, j-maxSyl); i-- {
				if ix.pySyl[string(letters[i:j])] {
					bwd[i] = true
				}
			}
		}
		for i := a; i <= b; i++ {
			cut[i] = cut[i] || (fwd[i] && bwd[i])
		}
	}
	return cut
}
