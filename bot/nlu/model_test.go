package nlu

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// trainShipped trains the models from the training sets and the demo
// knowledge base, as `nuanjia train` does.
func trainShipped(tb testing.TB) (Models, []Labelled) {
	tb.Helper()
	kb := demoKB(tb)
	data, digest, err := LoadTraining("testdata", kb)
	if err != nil {
		tb.Fatal(err)
	}
	plain, err := NewWithModels(normalizer(tb), kb, Models{})
	if err != nil {
		tb.Fatal(err)
	}
	m, err := TrainModels(plain, data, digest)
	if err != nil {
		tb.Fatal(err)
	}
	return m, data
}

// The models in the repository are the ones its data trains: a changed
// labelled set, knowledge base or feature without `nuanjia train` fails
// here, and so would training that is not deterministic.
func TestShippedModelsAreCurrent(t *testing.T) {
	m, _ := trainShipped(t)
	for _, f := range []struct {
		name  string
		model *Model
	}{{IntentModelFile, m.Intent}, {UrgentModelFile, m.Urgent}, {DangerModelFile, m.Danger}} {
		want, err := EncodeModel(f.model)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(f.name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			shipped, _ := ParseModel(got)
			digest := ""
			if shipped != nil {
				digest = shipped.Digest
			}
			t.Errorf("%s is stale (shipped digest %.12s, data %.12s): run `bin/nuanjia train` and commit it",
				f.name, digest, f.model.Digest)
		}
	}
}

// Training twice on the same data gives the same bytes.
func TestTrainingIsDeterministic(t *testing.T) {
	ex := []Example{
		{Features: []string{"c:工", "c:资"}, Class: 0}, {Features: []string{"c:电", "c:话"}, Class: 1},
		{Features: []string{"c:工", "c:钱"}, Class: 0}, {Features: []string{"c:号", "c:话"}, Class: 1},
	}
	a, err := Train([]string{"help", "contact"}, ex, TrainOptions{Epochs: 50})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Train([]string{"help", "contact"}, ex, TrainOptions{Epochs: 50})
	ea, _ := EncodeModel(a)
	eb, _ := EncodeModel(b)
	if !bytes.Equal(ea, eb) {
		t.Fatal("two trainings on the same data differ")
	}
	if p := a.Probabilities([]string{"c:工"}); p[0] < 0.7 {
		t.Errorf("P(help | 工) = %.2f: the model did not learn its data", p[0])
	}
	if p := a.Probabilities([]string{"c:话"}); p[1] < 0.7 {
		t.Errorf("P(contact | 话) = %.2f", p[1])
	}
	back, err := ParseModel(ea)
	if err != nil || back.Probabilities([]string{"c:工"})[0] != a.Probabilities([]string{"c:工"})[0] {
		t.Errorf("a model read back decides differently: %v", err)
	}
}

// Every line of the urgent set is flagged urgent, and is help: danger is
// never missed. Near misses are reported, not required.
func TestUrgentSetIsAlwaysFlagged(t *testing.T) {
	ix, err := New(normalizer(t), demoKB(t))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("testdata/" + UrgentSet)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	set, err := ReadUrgentSet(f, UrgentSet)
	if err != nil {
		t.Fatal(err)
	}
	urgent, calmFlagged, named := 0, 0, 0
	for _, l := range set {
		u := ix.Understand(l.Text)
		switch {
		case l.Urgent == 1:
			urgent++
			if !u.Urgent || u.Intent != "help" {
				t.Errorf("not flagged urgent help: %q (intent %s, urgent %v)", l.Text, u.Intent, u.Urgent)
			}
			// A wrong emergency number is worse than all three.
			if u.Danger != "" && u.Danger != dangerOf(l.Danger) {
				t.Errorf("%q: told the number for %s, want %s", l.Text, u.Danger, dangerOf(l.Danger))
			}
			if u.Danger != "" {
				named++
			}
		case u.Urgent:
			calmFlagged++
		}
	}
	if urgent < 80 {
		t.Errorf("the urgent set has %d urgent lines, want at least 80", urgent)
	}
	t.Logf("%d urgent lines all flagged, %d with the one number that fits; %d of %d near misses flagged too",
		urgent, named, calmFlagged, len(set)-urgent)
}

// Cross-validation on the training data: the honest figure for data the
// models have seen, since each fold is scored by models that did not.
func TestCrossValidation(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-validation trains five models; skipped with -short")
	}
	_, data := trainShipped(t)
	ps, err := CrossValidate(normalizer(t), demoKB(t), data, 5)
	if err != nil {
		t.Fatal(err)
	}
	r := Evaluate(ps)
	var b strings.Builder
	r.Write(&b)
	t.Log("\n" + b.String())
	for _, g := range []struct {
		name      string
		got, want float64
	}{{"intent", r.IntentAccuracy(), 95}, {"faq", r.FAQAccuracy(), 90}, {"branch", r.BranchAccuracy(), 90},
		{"help recall", r.HelpRecall(), 98}} {
		if g.got < g.want {
			t.Errorf("cross-validated %s %.1f%%, want at least %.0f%%", g.name, g.got, g.want)
		}
	}
}
