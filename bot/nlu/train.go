package nlu

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"nuanjia/bot"
)

// Labelled is one labelled member message.
type Labelled struct {
	Text   string
	Intent bot.Intent
	FAQ    string // the FAQ that answers it, for policy
	Branch string // the branch it names
	// Urgent: 1 someone is in danger now, 0 not, -1 not labelled.
	Urgent int
	// Danger is the kind of emergency (the urgent set's: injury, fire,
	// violence…), "" when not labelled.
	Danger string
}

// eachLine calls fn with the tab-separated fields of every line of r that
// is not blank or a "#" comment, and its line number.
func eachLine(r io.Reader, fn func(line int, fields []string) error) error {
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		s := sc.Text()
		if strings.TrimSpace(s) == "" || strings.HasPrefix(s, "#") {
			continue
		}
		if err := fn(line, strings.Split(s, "\t")); err != nil {
			return err
		}
	}
	return sc.Err()
}

// ReadLabelled reads a labelled set: lines "text<TAB>intent<TAB>faq<TAB>branch"
// with an optional fifth column urgent (1, 0 or empty), "#" comments and
// blank lines skipped. A bad line is an error naming it.
func ReadLabelled(r io.Reader, name string) ([]Labelled, error) {
	var out []Labelled
	err := eachLine(r, func(line int, p []string) error {
		if len(p) != 4 && len(p) != 5 {
			return fmt.Errorf("%s:%d: want 4 or 5 tab-separated fields, got %d", name, line, len(p))
		}
		l := Labelled{Text: p[0], Intent: bot.Intent(p[1]), FAQ: p[2], Branch: p[3], Urgent: -1}
		if intentIndex(l.Intent) < 0 {
			return fmt.Errorf("%s:%d: unknown intent %q", name, line, p[1])
		}
		if len(p) == 5 {
			switch p[4] {
			case "1":
				l.Urgent = 1
			case "0":
				l.Urgent = 0
			case "":
			default:
				return fmt.Errorf("%s:%d: urgent is %q, want 1, 0 or empty", name, line, p[4])
			}
		}
		out = append(out, l)
		return nil
	})
	return out, err
}

// ReadUrgentSet reads the urgent set: "text<TAB>danger<TAB>urgent" lines
// (danger names the kind, urgent is 1 or 0). Every urgent line is help.
func ReadUrgentSet(r io.Reader, name string) ([]Labelled, error) {
	var out []Labelled
	err := eachLine(r, func(line int, p []string) error {
		if len(p) != 3 || (p[2] != "1" && p[2] != "0") {
			return fmt.Errorf("%s:%d: want text<TAB>danger<TAB>1|0", name, line)
		}
		urgent, _ := strconv.Atoi(p[2])
		l := Labelled{Text: p[0], Urgent: urgent, Intent: bot.IntentHelp, Branch: branchUnlabelled}
		if urgent == 1 {
			l.Danger = p[1]
		} else {
			// A near miss: its intent is not labelled; it only teaches
			// urgency.
			l.Intent = ""
		}
		out = append(out, l)
		return nil
	})
	return out, err
}

// branchUnlabelled marks a line whose place is not labelled (the urgent
// set's): its branch is not scored.
const branchUnlabelled = "?"

// Models are the trained models the index decides with.
type Models struct {
	Intent *Model // one class per intent
	Urgent *Model // classes "calm", "urgent"
	// Danger tells which emergency number fits an urgent message: classes
	// are the bot.Danger values.
	Danger *Model
}

// dangerOf groups the urgent set's kinds of emergency by the number that
// helps: 120 for a body in danger, 110 for people who threaten it, 119 for
// fire and collapse, and for hunger and shelter the association itself.
func dangerOf(kind string) bot.Danger {
	switch kind {
	case "injury", "medical", "pregnancy", "child", "poisoning", "suicide":
		return bot.DangerMedical
	case "violence", "threat", "missing":
		return bot.DangerPolice
	case "fire", "collapse":
		return bot.DangerFire
	case "hunger", "shelter":
		return bot.DangerNeeds
	}
	return ""
}

// urgentWeight is how much more an urgent example counts than a calm one
// in training the urgency model: urgent messages are few, and a missed
// one costs a life where a false alarm costs a phone call. Chosen by
// cross-validation (recall against calm lines flagged).
const urgentWeight = 4

// Urgency classes.
const (
	classCalm   = "calm"
	classUrgent = "urgent"
)

// TrainModels builds both models from the labelled messages and the
// knowledge base ix was built over: each FAQ's question is a policy
// question, each place name alone asks for its branch's card. digest
// names the data (TrainingDigest); the same data gives the same files.
func TrainModels(ix *Index, data []Labelled, digest string) (Models, error) {
	var intentEx, urgentEx []Example
	add := func(text string, intent bot.Intent, urgent int) {
		f := ix.Features(text)
		if intent != "" {
			intentEx = append(intentEx, Example{Features: f, Class: intentIndex(intent)})
		}
		switch {
		case urgent == 1:
			urgentEx = append(urgentEx, Example{Features: urgencyFeatures(f), Class: 1, Weight: urgentWeight})
		case urgent == 0, intent != "" && intent != bot.IntentHelp:
			// Only help can be urgent: every other message is calm.
			urgentEx = append(urgentEx, Example{Features: urgencyFeatures(f), Class: 0})
		}
	}
	var dangerEx []Example
	dangers := []string{string(bot.DangerMedical), string(bot.DangerPolice), string(bot.DangerFire), string(bot.DangerNeeds)}
	for _, l := range data {
		add(l.Text, l.Intent, l.Urgent)
		if d := dangerOf(l.Danger); d != "" {
			dangerEx = append(dangerEx, Example{Features: ix.Features(l.Text), Class: slices.Index(dangers, string(d))})
		}
	}
	// The lexicon's strongest words are what members send on their own
	// ("救命", "我的求助", "退订"): each is an example of its intent.
	for _, c := range ix.lexicon.Cues {
		if c.Alone {
			for _, w := range c.Words {
				add(w, c.Intent, -1)
			}
		}
	}
	for _, f := range ix.kb.FAQs {
		add(f.Question, bot.IntentPolicy, -1)
	}
	for _, b := range ix.kb.Branches {
		for _, p := range b.Places {
			add(p, bot.IntentContact, -1)
		}
	}
	names := intents()
	classes := make([]string, len(names))
	for i, in := range names {
		classes[i] = string(in)
	}
	im, err := Train(classes, intentEx, TrainOptions{})
	if err != nil {
		return Models{}, fmt.Errorf("intent model: %w", err)
	}
	um, err := Train([]string{classCalm, classUrgent}, urgentEx, TrainOptions{L2: 3e-4})
	if err != nil {
		return Models{}, fmt.Errorf("urgency model: %w", err)
	}
	dm, err := Train(dangers, dangerEx, TrainOptions{})
	if err != nil {
		return Models{}, fmt.Errorf("danger model: %w", err)
	}
	im.Digest, um.Digest, dm.Digest = digest, digest, digest
	return Models{Intent: im, Urgent: um, Danger: dm}, nil
}

// TrainingDigest names training data: the labelled files by name and
// content, in the order given, and the knowledge base's FAQs and places.
func TrainingDigest(files map[string][]byte, order []string, kb bot.Knowledge) string {
	h := sha256.New()
	for _, name := range order {
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(files[name]))
		h.Write(files[name])
	}
	type place struct {
		ID     string
		Places []string
	}
	var places []place
	for _, b := range kb.Branches {
		places = append(places, place{b.ID, b.Places})
	}
	b, _ := json.Marshal(struct {
		FAQs   []bot.FAQ
		Places []place
	}{kb.FAQs, places}) // plain structs always marshal
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// EncodeModel is a model's file: indented JSON is diffable but large;
// one line per feature keeps a retrain's diff readable and the file small.
func EncodeModel(m *Model) ([]byte, error) {
	var buf bytes.Buffer
	head, err := json.Marshal(struct {
		Digest  string    `json:"digest"`
		Classes []string  `json:"classes"`
		Bias    []float64 `json:"bias"`
	}{m.Digest, m.Classes, m.Bias})
	if err != nil {
		return nil, err
	}
	buf.Write(head[:len(head)-1])
	buf.WriteString(",\"weights\":{\n")
	keys := make([]string, 0, len(m.Weights))
	for k := range m.Weights {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		kb, _ := json.Marshal(k)
		wb, _ := json.Marshal(m.Weights[k])
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(wb)
		if i < len(keys)-1 {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
	}
	buf.WriteString("}}\n")
	return buf.Bytes(), nil
}

// TrainingSets are the labelled files in bot/nlu/testdata the shipped
// models learn from: every labelled set except a blind one in use, which
// is scored once, first, and joins them afterwards (blind4.tsv did: see
// README).
// urgent.tsv is the urgent set (ReadUrgentSet's format).
func TrainingSets() []string {
	return []string{"dev.tsv", "eval.tsv", "holdout.tsv", "holdout2.tsv", "holdout3.tsv", "blind4.tsv", "blind5.tsv", "blind6.tsv", "blind7.tsv", "blind8.tsv", "blind9.tsv", "blind10.tsv", "adverts.tsv", UrgentSet}
}

// UrgentSet is the urgent set's file name.
const UrgentSet = "urgent.tsv"

// LoadTraining reads the training sets from dir, and the extra labelled
// files (a director's corrections) after them, and names it all with
// TrainingDigest.
func LoadTraining(dir string, kb bot.Knowledge, extra ...string) ([]Labelled, string, error) {
	files := map[string][]byte{}
	var order []string
	var data []Labelled
	read := func(name, path string) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files[name] = b
		order = append(order, name)
		var ls []Labelled
		if name == UrgentSet {
			ls, err = ReadUrgentSet(bytes.NewReader(b), path)
		} else {
			ls, err = ReadLabelled(bytes.NewReader(b), path)
		}
		data = append(data, ls...)
		return err
	}
	for _, name := range TrainingSets() {
		if err := read(name, filepath.Join(dir, name)); err != nil {
			return nil, "", err
		}
	}
	// The vocabulary is training data too: its words are features, and
	// its stand-alone words examples.
	files["lexicon.yaml"] = lexiconFile
	order = append(order, "lexicon.yaml")
	for _, path := range extra {
		if err := read(filepath.Base(path), path); err != nil {
			return nil, "", err
		}
	}
	return data, TrainingDigest(files, order, kb), nil
}
