package main

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// One message per line; a blank line, a line of spaces and a Windows line
// ending must not produce lines of their own or stray characters.
const classifyInput = "老板拖欠工资三个月了\n\n   \nlonglin zhebao dianhua\r\n生三孩有补贴吗\n"

var classifyKeys = []string{"branch", "faq", "intent", "norm", "score", "text", "urgent"}

// classified decodes classify's output, checking each line is one JSON
// object with exactly classify's keys.
func classified(t *testing.T, out string) []classification {
	t.Helper()
	var got []classification
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &fields); err != nil {
			t.Fatalf("line %q is not one JSON object: %v", line, err)
		}
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, classifyKeys) {
			t.Errorf("line %q has keys %v, want %v", line, keys, classifyKeys)
		}
		var c classification
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatal(err)
		}
		got = append(got, c)
	}
	return got
}

func checkClassified(t *testing.T, got []classification) {
	t.Helper()
	want := []struct{ text, intent, branch, faq string }{
		{"老板拖欠工资三个月了", "help", "", ""},
		{"longlin zhebao dianhua", "contact", "longlin-zhebao", ""},
		{"生三孩有补贴吗", "policy", "", "three-child-policy"},
	}
	if len(got) != len(want) {
		t.Fatalf("classify printed %d lines, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Text != w.text || g.Intent != w.intent || g.Branch != w.branch {
			t.Errorf("line %d = text %q intent %q branch %q; want %q, %q, %q",
				i, g.Text, g.Intent, g.Branch, w.text, w.intent, w.branch)
		}
		if w.faq != "" && g.FAQ != w.faq {
			t.Errorf("line %d: faq %q, want %q", i, g.FAQ, w.faq)
		}
		if g.Norm == "" || g.Score <= 0 {
			t.Errorf("line %d: norm %q, score %v; want both set", i, g.Norm, g.Score)
		}
	}
	// Pinyin typed on a phone without a Chinese keyboard reads as the place.
	if !strings.Contains(got[1].Norm, "者保") {
		t.Errorf("norm of the pinyin line = %q, want it to contain 者保", got[1].Norm)
	}
}

// With --kb the tool needs no database at all.
func TestClassifyFromYAML(t *testing.T) {
	t.Parallel()
	out := mustRun(t, map[string]string{}, classifyInput, "classify", "--kb", demoKB)
	checkClassified(t, classified(t, out))
}

// Without --kb it reads the imported knowledge base and understands the
// same way.
func TestClassifyFromDatabase(t *testing.T) {
	t.Parallel()
	vars := importedDB(t)
	fromDB := mustRun(t, vars, classifyInput, "classify")
	checkClassified(t, classified(t, fromDB))
	fromYAML := mustRun(t, map[string]string{}, classifyInput, "classify", "--kb", demoKB)
	if !reflect.DeepEqual(classified(t, fromDB), classified(t, fromYAML)) {
		t.Errorf("the database and the YAML file understand differently:\ndb:   %s\nyaml: %s", fromDB, fromYAML)
	}
}

func TestClassifyNeedsDatabaseOrKB(t *testing.T) {
	t.Parallel()
	out, _, err := nuanjia(t, map[string]string{}, "你好\n", "classify")
	if err == nil {
		t.Fatalf("classify without DATABASE_URL or --kb succeeded and printed %q", out)
	}
	if !strings.Contains(err.Error(), "DATABASE_URL") || !strings.Contains(err.Error(), "--kb") {
		t.Errorf("error = %q, want it to mention DATABASE_URL and --kb", err)
	}
}

func TestClassifyBrokenKB(t *testing.T) {
	t.Parallel()
	path := writeTemp(t, "kb.yaml", editFAQ(t, readDemo(t), "three-child-policy", "updated: 2026-03-01", "updated: 2024-13-40"))
	_, _, err := nuanjia(t, map[string]string{}, "你好\n", "classify", "--kb", path)
	if err == nil || !strings.Contains(err.Error(), `faqs[2] (id "three-child-policy"): updated`) {
		t.Errorf("error = %v, want it to name the FAQ and its updated field", err)
	}
}
