package nlu

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
)

// Model is a multinomial logistic regression over sparse binary features:
// for each class a weight per feature and a bias. It is trained from
// labelled messages by Train and read from JSON; it never changes after.
type Model struct {
	// Digest names the training data it was built from (TrainingDigest),
	// so a test can tell a model that is stale against its data.
	Digest  string               `json:"digest"`
	Classes []string             `json:"classes"`
	Bias    []float64            `json:"bias"`
	Weights map[string][]float64 `json:"weights"` // feature → one weight per class
}

// Example is one labelled message as features.
type Example struct {
	Features []string
	Class    int
	// Weight is how much the example counts (0 counts as 1): a rare class
	// whose misses cost more can be made to count more.
	Weight float64
}

// TrainOptions shape training. Zero values take the defaults.
type TrainOptions struct {
	Epochs int     // passes of full-batch gradient descent (default 300)
	Rate   float64 // AdaGrad step size (default 0.5)
	L2     float64 // weight decay per example (default 1e-4)
	// MinCount drops features seen in fewer examples (default 1: keep all).
	MinCount int
}

func (o TrainOptions) withDefaults() TrainOptions {
	if o.Epochs <= 0 {
		o.Epochs = 300
	}
	if o.Rate <= 0 {
		o.Rate = 0.5
	}
	if o.L2 < 0 {
		o.L2 = 0
	} else if o.L2 == 0 {
		o.L2 = 1e-4
	}
	if o.MinCount <= 0 {
		o.MinCount = 1
	}
	return o
}

// Train fits a model to examples by full-batch gradient descent with
// AdaGrad steps. It is deterministic: the same examples in the same order
// give the same weights, bit for bit, on the same architecture (features
// are numbered in sorted order and every sum runs in a fixed order).
func Train(classes []string, examples []Example, opt TrainOptions) (*Model, error) {
	opt = opt.withDefaults()
	k := len(classes)
	if k < 2 {
		return nil, fmt.Errorf("nlu.Train: need at least 2 classes, got %d", k)
	}
	count := map[string]int{}
	for _, ex := range examples {
		if ex.Class < 0 || ex.Class >= k {
			return nil, fmt.Errorf("nlu.Train: class %d out of range", ex.Class)
		}
		for _, f := range ex.Features {
			count[f]++
		}
	}
	var names []string
	for f, n := range count {
		if n >= opt.MinCount {
			names = append(names, f)
		}
	}
	sort.Strings(names)
	id := make(map[string]int, len(names))
	for i, f := range names {
		id[f] = i
	}
	xs := make([][]int, len(examples))
	for i, ex := range examples {
		for _, f := range ex.Features {
			if j, ok := id[f]; ok {
				xs[i] = append(xs[i], j)
			}
		}
		slices.Sort(xs[i])
	}
	nf := len(names)
	w := make([]float64, nf*k) // feature-major: w[f*k+c]
	b := make([]float64, k)
	gw := make([]float64, nf*k)
	gb := make([]float64, k)
	hw := make([]float64, nf*k) // AdaGrad's sums of squared gradients
	hb := make([]float64, k)
	p := make([]float64, k)
	n := float64(len(examples))
	for epoch := 0; epoch < opt.Epochs; epoch++ {
		clear(gw)
		clear(gb)
		for i, x := range xs {
			scoresInto(p, b, w, x, k)
			softmax(p)
			p[examples[i].Class]--
			if wt := examples[i].Weight; wt > 0 && wt != 1 {
				for c := range p {
					p[c] *= wt
				}
			}
			for c := 0; c < k; c++ {
				gb[c] += p[c]
			}
			for _, f := range x {
				for c := 0; c < k; c++ {
					gw[f*k+c] += p[c]
				}
			}
		}
		for j := range w {
			g := gw[j]/n + opt.L2*w[j]
			hw[j] += g * g
			if hw[j] > 0 {
				w[j] -= opt.Rate * g / math.Sqrt(hw[j])
			}
		}
		for c := range b {
			g := gb[c] / n
			hb[c] += g * g
			if hb[c] > 0 {
				b[c] -= opt.Rate * g / math.Sqrt(hb[c])
			}
		}
	}
	m := &Model{Classes: slices.Clone(classes), Bias: roundAll(b), Weights: make(map[string][]float64, nf)}
	for i, f := range names {
		ws := roundAll(w[i*k : (i+1)*k])
		if slices.ContainsFunc(ws, func(v float64) bool { return v != 0 }) {
			m.Weights[f] = ws
		}
	}
	return m, nil
}

// Probabilities are the model's class probabilities for a message's
// features, in the order of Classes. Unknown features are ignored.
func (m *Model) Probabilities(features []string) []float64 {
	k := len(m.Classes)
	p := make([]float64, k)
	copy(p, m.Bias)
	// Each occurrence counts, as in training: a bag of features.
	for _, f := range features {
		if ws, ok := m.Weights[f]; ok {
			for c := 0; c < k; c++ {
				p[c] += ws[c]
			}
		}
	}
	softmax(p)
	return p
}

// ParseModel reads a model written by EncodeModel and checks its shape.
func ParseModel(b []byte) (*Model, error) {
	var m Model
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	k := len(m.Classes)
	if k < 2 || len(m.Bias) != k {
		return nil, fmt.Errorf("model: %d classes with %d biases", k, len(m.Bias))
	}
	for f, ws := range m.Weights {
		if len(ws) != k {
			return nil, fmt.Errorf("model: feature %q has %d weights, want %d", f, len(ws), k)
		}
	}
	return &m, nil
}

func scoresInto(p, b, w []float64, x []int, k int) {
	copy(p, b)
	for _, f := range x {
		for c := 0; c < k; c++ {
			p[c] += w[f*k+c]
		}
	}
}

// softmax turns scores into probabilities in place.
func softmax(p []float64) {
	top := slices.Max(p)
	sum := 0.0
	for i := range p {
		p[i] = math.Exp(p[i] - top)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
}

// roundAll rounds to 4 decimals: what the file keeps, and enough for
// probabilities that are compared against thresholds of two decimals.
func roundAll(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = math.Round(x*1e4) / 1e4
	}
	return out
}
