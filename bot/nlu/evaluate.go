package nlu

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"nuanjia/bot"
)

// Prediction is what the index made of a labelled message.
type Prediction struct {
	Want Labelled
	Got  bot.Understanding
}

// Predict runs ix over data.
func Predict(ix *Index, data []Labelled) []Prediction {
	out := make([]Prediction, 0, len(data))
	for _, l := range data {
		out = append(out, Prediction{Want: l, Got: ix.Understand(l.Text)})
	}
	return out
}

// CrossValidate scores the training data honestly: it is cut into k folds
// (line i in fold i mod k), and each fold is classified by models trained
// on the other k-1 and the knowledge base.
func CrossValidate(n *Normalizer, kb bot.Knowledge, data []Labelled, k int) ([]Prediction, error) {
	if k < 2 {
		return nil, fmt.Errorf("cross-validation needs at least 2 folds")
	}
	plain, err := NewWithModels(n, kb, Models{})
	if err != nil {
		return nil, err
	}
	var out []Prediction
	for fold := 0; fold < k; fold++ {
		var train, test []Labelled
		for i, l := range data {
			if i%k == fold {
				test = append(test, l)
			} else {
				train = append(train, l)
			}
		}
		m, err := TrainModels(plain, train, "")
		if err != nil {
			return nil, err
		}
		ix, err := NewWithModels(n, kb, m)
		if err != nil {
			return nil, err
		}
		out = append(out, Predict(ix, test)...)
	}
	return out, nil
}

// Report is the figures of a set of predictions.
type Report struct {
	Lines, IntentRight int
	// FAQLines are policy lines with a FAQ labelled; FAQRight those
	// answered with it or offered it in a numbered list, FAQClear those
	// answered with it at once.
	FAQLines, FAQRight, FAQClear int
	BranchLines                  int // lines naming a branch, or the model naming one
	BranchRight                  int
	// HelpLines are help lines; HelpReached those read as help, or as
	// unknown (which opens a question case a director reads).
	HelpLines, HelpReached int
	// UrgentLines are lines labelled urgent; UrgentFlagged those flagged.
	UrgentLines, UrgentFlagged int
	// CalmFlagged are lines labelled not urgent but flagged.
	CalmLines, CalmFlagged int
	Confusion              map[bot.Intent]map[bot.Intent]int // want → got → count
	Misses                 []Prediction
}

// Evaluate scores predictions. Intent lines with no intent (the urgent
// set's near misses) count only for urgency.
func Evaluate(ps []Prediction) Report {
	r := Report{Confusion: map[bot.Intent]map[bot.Intent]int{}}
	for _, p := range ps {
		w, g := p.Want, p.Got
		missed := false
		if w.Intent != "" {
			r.Lines++
			if r.Confusion[w.Intent] == nil {
				r.Confusion[w.Intent] = map[bot.Intent]int{}
			}
			r.Confusion[w.Intent][g.Intent]++
			if g.Intent == w.Intent {
				r.IntentRight++
			} else {
				missed = true
			}
			if w.Intent == bot.IntentHelp {
				r.HelpLines++
				if g.Intent == bot.IntentHelp || g.Intent == bot.IntentUnknown || g.Urgent {
					r.HelpReached++
				}
			}
			if w.Intent == bot.IntentPolicy && w.FAQ != "" {
				r.FAQLines++
				switch {
				case g.FAQ == w.FAQ:
					r.FAQRight++
					r.FAQClear++
				case g.FAQ == "" && slices.Contains(g.FAQs, w.FAQ):
					// Offered in the numbered list the member picks from.
					r.FAQRight++
				default:
					missed = true
				}
			}
			if w.Branch != branchUnlabelled && (w.Branch != "" || g.Branch != "") {
				r.BranchLines++
				if g.Branch == w.Branch {
					r.BranchRight++
				} else {
					missed = true
				}
			}
		}
		urgent := w.Urgent
		if urgent < 0 && w.Intent != "" && w.Intent != bot.IntentHelp {
			urgent = 0 // only help can be urgent
		}
		switch urgent {
		case 1:
			r.UrgentLines++
			if g.Urgent {
				r.UrgentFlagged++
			} else {
				missed = true
			}
		case 0:
			r.CalmLines++
			if g.Urgent {
				r.CalmFlagged++
				missed = true
			}
		}
		if missed {
			r.Misses = append(r.Misses, p)
		}
	}
	return r
}

func pct(a, b int) float64 {
	if b == 0 {
		return 100
	}
	return 100 * float64(a) / float64(b)
}

// IntentAccuracy, FAQAccuracy, BranchAccuracy, HelpRecall and UrgentRecall
// are percentages (100 when there is nothing to count).
func (r Report) IntentAccuracy() float64 { return pct(r.IntentRight, r.Lines) }
func (r Report) FAQAccuracy() float64    { return pct(r.FAQRight, r.FAQLines) }
func (r Report) BranchAccuracy() float64 { return pct(r.BranchRight, r.BranchLines) }
func (r Report) HelpRecall() float64     { return pct(r.HelpReached, r.HelpLines) }
func (r Report) UrgentRecall() float64   { return pct(r.UrgentFlagged, r.UrgentLines) }

// Write prints the report: the figures, per-intent precision and recall,
// the confusion matrix and every miss.
func (r Report) Write(w io.Writer) {
	fmt.Fprintf(w, "intent %.1f%% (%d/%d)  faq %.1f%% (%d/%d, %d at once)  branch %.1f%% (%d/%d)\n",
		r.IntentAccuracy(), r.IntentRight, r.Lines, r.FAQAccuracy(), r.FAQRight, r.FAQLines, r.FAQClear,
		r.BranchAccuracy(), r.BranchRight, r.BranchLines)
	fmt.Fprintf(w, "help recall %.1f%% (%d/%d: help, or unknown, in front of a person)\n", r.HelpRecall(), r.HelpReached, r.HelpLines)
	if r.UrgentLines+r.CalmLines > 0 {
		fmt.Fprintf(w, "urgent recall %.1f%% (%d/%d)  calm lines flagged %d/%d\n",
			r.UrgentRecall(), r.UrgentFlagged, r.UrgentLines, r.CalmFlagged, r.CalmLines)
	}
	all := intents()
	fmt.Fprintf(w, "\n%-9s %9s %9s\n", "intent", "precision", "recall")
	for _, in := range all {
		tp, wantN, gotN := r.Confusion[in][in], 0, 0
		for _, n := range r.Confusion[in] {
			wantN += n
		}
		for _, row := range r.Confusion {
			gotN += row[in]
		}
		if wantN+gotN == 0 {
			continue
		}
		fmt.Fprintf(w, "%-9s %8.1f%% %8.1f%%\n", in, pct(tp, gotN), pct(tp, wantN))
	}
	fmt.Fprintf(w, "\nconfusion (rows: labelled, columns: understood)\n%-9s", "")
	for _, in := range all {
		fmt.Fprintf(w, " %4.4s", in)
	}
	fmt.Fprintln(w)
	for _, want := range all {
		if r.Confusion[want] == nil {
			continue
		}
		fmt.Fprintf(w, "%-9s", want)
		for _, got := range all {
			fmt.Fprintf(w, " %4d", r.Confusion[want][got])
		}
		fmt.Fprintln(w)
	}
	if len(r.Misses) > 0 {
		fmt.Fprintf(w, "\nmisses (%d):\n", len(r.Misses))
	}
	for _, m := range r.Misses {
		var why []string
		if m.Want.Intent != "" && m.Got.Intent != m.Want.Intent {
			why = append(why, fmt.Sprintf("intent %s want %s", m.Got.Intent, m.Want.Intent))
		}
		if m.Want.FAQ != "" && m.Got.FAQ != m.Want.FAQ {
			why = append(why, fmt.Sprintf("faq %q want %q", m.Got.FAQ, m.Want.FAQ))
		}
		if m.Want.Branch != branchUnlabelled && (m.Want.Branch != "" || m.Got.Branch != "") && m.Got.Branch != m.Want.Branch {
			why = append(why, fmt.Sprintf("branch %q want %q", m.Got.Branch, m.Want.Branch))
		}
		if m.Want.Urgent == 1 && !m.Got.Urgent {
			why = append(why, "not flagged urgent")
		}
		if m.Want.Urgent != 1 && m.Got.Urgent {
			why = append(why, "flagged urgent")
		}
		fmt.Fprintf(w, "  %s  (%s; score %.2f)\n", m.Want.Text, strings.Join(why, ", "), m.Got.Score)
	}
}
