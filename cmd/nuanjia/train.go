package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"nuanjia/bot/nlu"
)

// train builds the intent and urgency models from the labelled sets and
// the knowledge base and writes them where the build embeds them. The
// same data always gives the same files.
func train(ctx context.Context, e env) error {
	fs := e.flags("train")
	dataDir := fs.String("data", "bot/nlu/testdata", "directory of the labelled training sets")
	kbFile := fs.String("kb", "kb/demo.yaml", "knowledge base the models learn its FAQs and places from")
	outDir := fs.String("out", "bot/nlu", "where models/intent.json and models/urgent.json are written")
	corrections := fs.Bool("with-corrections", false, "also learn from directors' corrections (改 123 政策) stored in DATABASE_URL")
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	kb, err := loadKnowledge(ctx, e, *kbFile)
	if err != nil {
		return err
	}
	var extra []string
	if *corrections {
		path, n, err := writeCorrections(ctx, e)
		if err != nil {
			return err
		}
		defer os.Remove(path)
		extra = append(extra, path)
		fmt.Fprintf(e.stdout, "%d directors' corrections included\n", n)
	}
	data, digest, err := nlu.LoadTraining(*dataDir, kb, extra...)
	if err != nil {
		return err
	}
	norm, err := nlu.NewNormalizer()
	if err != nil {
		return err
	}
	plain, err := nlu.NewWithModels(norm, kb, nlu.Models{})
	if err != nil {
		return err
	}
	m, err := nlu.TrainModels(plain, data, digest)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name  string
		model *nlu.Model
	}{{nlu.IntentModelFile, m.Intent}, {nlu.UrgentModelFile, m.Urgent}, {nlu.DangerModelFile, m.Danger}} {
		b, err := nlu.EncodeModel(f.model)
		if err != nil {
			return err
		}
		path := filepath.Join(*outDir, f.name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s: %d features, %d bytes\n", path, len(f.model.Weights), len(b))
	}
	fmt.Fprintf(e.stdout, "trained on %d labelled messages; rebuild (make build) to ship the models\n", len(data))
	return nil
}

// writeCorrections writes the directors' intent corrections as a labelled
// file for training, and returns its path and how many it holds.
func writeCorrections(ctx context.Context, e env) (string, int, error) {
	st, err := openStore(ctx, e)
	if err != nil {
		return "", 0, err
	}
	defer st.Close()
	cs, err := st.Corrections(ctx)
	if err != nil {
		return "", 0, err
	}
	f, err := os.CreateTemp("", "corrections-*.tsv")
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	fmt.Fprintln(f, "# text\tintent\tfaq\tbranch — directors' corrections")
	n := 0
	for _, c := range cs {
		text := strings.Join(strings.Fields(c.Text), " ") // a tab or line break would break the line
		if text == "" {
			continue
		}
		fmt.Fprintf(f, "%s\t%s\t\t\n", text, c.Intent)
		n++
	}
	return f.Name(), n, f.Close()
}
