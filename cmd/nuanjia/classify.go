package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"nuanjia/bot"
	"nuanjia/bot/nlu"
)

// classification is one line of classify's output.
type classification struct {
	Text   string  `json:"text"`
	Norm   string  `json:"norm"`
	Intent string  `json:"intent"`
	FAQ    string  `json:"faq"`
	Branch string  `json:"branch"`
	Urgent bool    `json:"urgent"`
	Score  float64 `json:"score"`
}

// classify prints, for each line on stdin, what the webhook's understanding
// makes of it. The knowledge base comes from --kb, else from the database.
func classify(ctx context.Context, e env) error {
	fs := e.flags("classify")
	kbFile := fs.String("kb", "", "knowledge-base YAML file (default: the database's)")
	evalFile := fs.String("eval", "", "score a labelled file (text, intent, faq, branch[, urgent]; or the urgent set) instead of reading stdin")
	folds := fs.Int("cv", 0, "cross-validate: train on all but one of K folds of the training sets (--data), score the rest")
	dataDir := fs.String("data", "bot/nlu/testdata", "the training sets, for --cv")
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	kb, err := loadKnowledge(ctx, e, *kbFile)
	if err != nil {
		return err
	}
	if *folds > 0 {
		return crossValidate(e, kb, *dataDir, *folds)
	}
	ix, err := buildIndex(kb)
	if err != nil {
		return err
	}
	if *evalFile != "" {
		return evaluateFile(e, ix, *evalFile)
	}
	out := json.NewEncoder(e.stdout)
	out.SetEscapeHTML(false)
	in := bufio.NewScanner(e.stdin)
	in.Buffer(make([]byte, 64<<10), 1<<20)
	for in.Scan() {
		text := strings.TrimRight(in.Text(), "\r")
		if strings.TrimSpace(text) == "" {
			continue
		}
		u := ix.Understand(text)
		faq := u.FAQ
		if faq == "" && len(u.FAQs) > 0 {
			faq = u.FAQs[0]
		}
		if err := out.Encode(classification{
			Text: text, Norm: u.Norm, Intent: string(u.Intent), FAQ: faq,
			Branch: u.Branch, Urgent: u.Urgent, Score: u.Score,
		}); err != nil {
			return err
		}
	}
	return in.Err()
}

// loadKnowledge reads a knowledge base from a YAML file, or from the
// database when file is empty.
func loadKnowledge(ctx context.Context, e env, file string) (bot.Knowledge, error) {
	if file != "" {
		raw, err := os.ReadFile(file)
		if err != nil {
			return bot.Knowledge{}, err
		}
		kb, err := nlu.ParseKnowledge(raw)
		if err == nil {
			err = nlu.Validate(kb)
		}
		if err != nil {
			return bot.Knowledge{}, fmt.Errorf("%s: %w", file, err)
		}
		return kb, nil
	}
	st, err := openStore(ctx, e)
	if err != nil {
		return bot.Knowledge{}, fmt.Errorf("%w\n(or pass --kb FILE.yaml)", err)
	}
	defer st.Close()
	return st.LoadKnowledge(ctx)
}

// buildIndex builds the understanding index over kb.
func buildIndex(kb bot.Knowledge) (*nlu.Index, error) {
	norm, err := nlu.NewNormalizer()
	if err != nil {
		return nil, err
	}
	return nlu.New(norm, kb)
}

// evaluateFile prints accuracy, per-intent precision and recall, the
// confusion matrix and every miss of the index on a labelled file.
func evaluateFile(e env, ix *nlu.Index, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var data []nlu.Labelled
	if filepath.Base(path) == nlu.UrgentSet {
		data, err = nlu.ReadUrgentSet(f, path)
	} else {
		data, err = nlu.ReadLabelled(f, path)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: %d lines\n", path, len(data))
	nlu.Evaluate(nlu.Predict(ix, data)).Write(e.stdout)
	return nil
}

// crossValidate prints the k-fold cross-validated figures of the training sets.
func crossValidate(e env, kb bot.Knowledge, dir string, k int) error {
	data, _, err := nlu.LoadTraining(dir, kb)
	if err != nil {
		return err
	}
	norm, err := nlu.NewNormalizer()
	if err != nil {
		return err
	}
	ps, err := nlu.CrossValidate(norm, kb, data, k)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%d-fold cross-validation over %d labelled lines of %s\n", k, len(data), dir)
	nlu.Evaluate(ps).Write(e.stdout)
	return nil
}
