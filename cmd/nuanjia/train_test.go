package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nuanjia/bot"
	"nuanjia/store"
)

// The shipped models are what `nuanjia train` writes from the repository's
// data; with --with-corrections a director's correction is one more
// labelled example, and the models change.
func TestTrainWithCorrections(t *testing.T) {
	vars := importedDB(t)
	out := t.TempDir()
	mustRun(t, vars, "", "train", "--data", "../../bot/nlu/testdata", "--kb", demoKB, "--out", out)
	shipped, err := os.ReadFile("../../bot/nlu/models/intent.json")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := os.ReadFile(filepath.Join(out, "models", "intent.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(plain) != string(shipped) {
		t.Fatal("nuanjia train did not reproduce the shipped intent model")
	}

	st, err := store.Open(t.Context(), vars["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.WithCases(t.Context(), func(c bot.CaseClock) error {
		return c.Correct(t.Context(), bot.Correction{Text: "我们这边的娃儿打疫苗要钱不", Intent: bot.IntentPolicy, Actor: "demo-openid-county-1"})
	})
	if err != nil {
		t.Fatal(err)
	}
	got := mustRun(t, vars, "", "train", "--data", "../../bot/nlu/testdata", "--kb", demoKB, "--out", out, "--with-corrections")
	if !strings.Contains(got, "1 directors' corrections included") {
		t.Errorf("train --with-corrections printed %q, want the correction counted", got)
	}
	corrected, err := os.ReadFile(filepath.Join(out, "models", "intent.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(corrected) == string(plain) {
		t.Error("the correction did not change the model")
	}
}
