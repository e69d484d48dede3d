package nlu

import (
	"hash/fnv"
	"math"
	"slices"

	"nuanjia/bot"
)

// ngramMode picks the terms BM25 indexes. Chinese is not segmented, so the
// terms are character n-grams of Han runs; Latin words and numbers are
// whole terms. TestNgramChoice measures the three on the evaluation set.
type ngramMode int

const (
	modeUni ngramMode = iota
	modeBi
	modeUniBi
)

func (m ngramMode) String() string {
	return [...]string{"unigram", "bigram", "uni+bi"}[m]
}

const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

type posting struct {
	doc int32
	w   float32 // idf × saturated tf, precomputed: queries only add
}

// bm25 is an inverted index over FAQ questions, keywords and answers.
type bm25 struct {
	mode     ngramMode
	terms    map[uint64]int32
	postings [][]posting
	idf      []float32
	nDocs    int
}

// terms calls f for every term of a normalised text.
func (m ngramMode) terms(norm string, f func(uint64)) {
	var prev rune = -1
	latinStart := -1
	flushLatin := func(end int) {
		if latinStart >= 0 {
			h := fnv.New64a()
			h.Write([]byte(norm[latinStart:end]))
			f(h.Sum64() | 1<<63)
			latinStart = -1
		}
	}
	for i, r := range norm {
		if isHan(r) {
			flushLatin(i)
			if m != modeBi {
				f(uint64(r))
			}
			if m != modeUni && prev >= 0 {
				f(uint64(prev)<<32 | uint64(r))
			}
			prev = r
			continue
		}
		prev = -1
		if r == ' ' {
			flushLatin(i)
		} else if latinStart < 0 {
			latinStart = i
		}
	}
	flushLatin(len(norm))
}

// docText weights the fields by repetition: the question and the keywords
// are what a member's words resemble; the answer adds vocabulary.
func docText(f bot.FAQ) []string {
	out := []string{f.Question, f.Question}
	for _, k := range f.Keywords {
		out = append(out, k, k)
	}
	return append(out, f.Answer)
}

func newBM25(n *Normalizer, faqs []bot.FAQ, mode ngramMode) *bm25 {
	ix := &bm25{mode: mode, terms: map[uint64]int32{}, nDocs: len(faqs)}
	tfs := make([]map[int32]int, len(faqs))
	lens := make([]float64, len(faqs))
	total := 0.0
	for d, f := range faqs {
		tf := map[int32]int{}
		for _, s := range docText(f) {
			mode.terms(n.Normalize(s), func(t uint64) {
				id, ok := ix.terms[t]
				if !ok {
					id = int32(len(ix.postings))
					ix.terms[t] = id
					ix.postings = append(ix.postings, nil)
				}
				tf[id]++
				lens[d]++
			})
		}
		tfs[d] = tf
		total += lens[d]
	}
	avg := math.Max(total/math.Max(1, float64(len(faqs))), 1)
	ix.idf = make([]float32, len(ix.postings))
	df := make([]int, len(ix.postings))
	for _, tf := range tfs {
		for id := range tf {
			df[id]++
		}
	}
	N := float64(len(faqs))
	for id := range ix.idf {
		ix.idf[id] = float32(math.Log(1 + (N-float64(df[id])+0.5)/(float64(df[id])+0.5)))
	}
	for d, tf := range tfs {
		ids := make([]int32, 0, len(tf))
		for id := range tf {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			t := float64(tf[id])
			w := float64(ix.idf[id]) * t * (bm25K1 + 1) / (t + bm25K1*(1-bm25B+bm25B*lens[d]/avg))
			ix.postings[id] = append(ix.postings[id], posting{int32(d), float32(w)})
		}
	}
	return ix
}

// hit is one scored FAQ.
type hit struct {
	doc   int
	score float64
}

// search scores the FAQs against a normalised query and returns the best
// three, plus the query's idf mass so callers can judge coverage. boost
// adds to given docs' scores (FAQ keywords named in the message).
//
// strong reports whether the best FAQ shares more than single characters
// with the query: a lone 在 or 吗 in common is no evidence of a policy
// question.
func (ix *bm25) search(norm string, boost []int, scratch []float32, multi []bool) (top [3]hit, mass float64, strong bool) {
	for k := range top {
		top[k].doc = -1
	}
	var seen [64]int32
	nSeen := 0
	touched := make([]int32, 0, 32)
	ix.mode.terms(norm, func(t uint64) {
		id, ok := ix.terms[t]
		if !ok {
			return
		}
		for k := 0; k < nSeen; k++ {
			if seen[k] == id {
				return
			}
		}
		if nSeen < len(seen) {
			seen[nSeen] = id
			nSeen++
		}
		mass += float64(ix.idf[id]) * (bm25K1 + 1)
		isMulti := t > 0xFFFFFFFF
		for _, p := range ix.postings[id] {
			if scratch[p.doc] == 0 {
				touched = append(touched, p.doc)
			}
			scratch[p.doc] += p.w
			multi[p.doc] = multi[p.doc] || isMulti
		}
	})
	for _, d := range boost {
		if scratch[d] == 0 {
			touched = append(touched, int32(d))
		}
		scratch[d] += float32(mass*0.25 + 2)
		multi[d] = true
	}
	for _, d := range touched {
		s := float64(scratch[d])
		scratch[d] = 0
		for k := range top {
			if top[k].doc < 0 || s > top[k].score || (s == top[k].score && int(d) < top[k].doc) {
				copy(top[k+1:], top[k:len(top)-1])
				top[k] = hit{int(d), s}
				break
			}
		}
	}
	if top[0].doc >= 0 {
		strong = multi[top[0].doc]
	}
	for _, d := range touched {
		multi[d] = false
	}
	return top, mass, strong
}
