package store

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"nuanjia/bot"
)

// knowledgeCounts is what a director re-importing the file would check.
type knowledgeCounts struct{ branches, directors, faqs int }

func countKnowledge(t *testing.T, s *Store) knowledgeCounts {
	t.Helper()
	return knowledgeCounts{
		branches:  countRows(t, s, "branches", "true"),
		directors: countRows(t, s, "directors", "true"),
		faqs:      countRows(t, s, "faqs", "true"),
	}
}

func loadKnowledge(t *testing.T, s *Store) bot.Knowledge {
	t.Helper()
	kb, err := s.LoadKnowledge(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return kb
}

func knowledgeVersion(t *testing.T, s *Store) string {
	t.Helper()
	v, err := s.KnowledgeVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestImportKnowledgeTwiceIsIdempotent(t *testing.T) {
	s := newStore(t)
	kb := importDemo(t, s)
	first := countKnowledge(t, s)
	directors := 0
	for _, b := range kb.Branches {
		directors += len(b.Directors)
	}
	want := knowledgeCounts{branches: len(kb.Branches), directors: directors, faqs: len(kb.FAQs)}
	if first != want {
		t.Fatalf("after one import: %+v, want %+v", first, want)
	}
	importDemo(t, s)
	if again := countKnowledge(t, s); again != first {
		t.Errorf("importing the same file again changed the counts: %+v, want %+v", again, first)
	}
}

func TestReimportEditedAnswer(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	kb := importDemo(t, s)
	before := knowledgeVersion(t, s)

	const newAnswer = "2026年起育儿补贴标准有调整，请以当地公布为准。"
	edited := demoKB(t)
	edited.FAQs[3].Answer = newAnswer
	if err := s.ImportKnowledge(ctx, edited); err != nil {
		t.Fatal(err)
	}

	loaded := loadKnowledge(t, s)
	id := kb.FAQs[3].ID
	var got string
	for _, f := range loaded.FAQs {
		if f.ID == id {
			got = f.Answer
		}
	}
	if got != newAnswer {
		t.Errorf("FAQ %s answer after re-import = %q, want %q", id, got, newAnswer)
	}
	if after := knowledgeVersion(t, s); after == before {
		t.Errorf("KnowledgeVersion stayed %q after an edit was imported; serving processes would not reload", after)
	}
}

// A file that fails half-way must leave the knowledge base as it was: a
// director fixing the file must never find half of it live.
func TestImportKnowledgeIsAllOrNothing(t *testing.T) {
	s := newStore(t)
	kb := demoKB(t)
	// Validate would refuse this; the database must refuse it too.
	kb.FAQs[1].Updated = "not-a-date"

	err := s.ImportKnowledge(context.Background(), kb)
	if err == nil {
		t.Fatal("import with an invalid date succeeded")
	}
	if !strings.Contains(err.Error(), "faqs[1]") || !strings.Contains(err.Error(), kb.FAQs[1].ID) {
		t.Errorf("error %q does not name faqs[1] (id %s)", err, kb.FAQs[1].ID)
	}
	if got := countKnowledge(t, s); got != (knowledgeCounts{}) {
		t.Errorf("a failed import left %+v behind", got)
	}
	if n := countRows(t, s, "branches", "id = $1", kb.Branches[0].ID); n != 0 {
		t.Errorf("first branch %s stored by a failed import", kb.Branches[0].ID)
	}
	if n := countRows(t, s, "faqs", "id = $1", kb.FAQs[0].ID); n != 0 {
		t.Errorf("first FAQ %s stored by a failed import", kb.FAQs[0].ID)
	}
}

func TestFailedReimportKeepsThePreviousKnowledge(t *testing.T) {
	s := newStore(t)
	importDemo(t, s)
	before := loadKnowledge(t, s)

	broken := demoKB(t)
	broken.FAQs[0].Answer = "这个答案不应该上线。"
	broken.FAQs[1].Updated = "not-a-date"
	if err := s.ImportKnowledge(context.Background(), broken); err == nil {
		t.Fatal("broken import succeeded")
	}
	if after := loadKnowledge(t, s); !reflect.DeepEqual(after, before) {
		t.Error("a failed re-import changed the live knowledge base")
	}
}

func TestLoadKnowledgeRoundTrips(t *testing.T) {
	s := newStore(t)
	kb := importDemo(t, s)
	loaded := loadKnowledge(t, s)

	branches := map[string]bot.Branch{}
	for _, b := range loaded.Branches {
		branches[b.ID] = b
	}
	if len(branches) != len(kb.Branches) {
		t.Fatalf("loaded %d branches, imported %d", len(branches), len(kb.Branches))
	}
	for _, want := range kb.Branches {
		got, ok := branches[want.ID]
		if !ok {
			t.Errorf("branch %s missing after load", want.ID)
			continue
		}
		// Places, coordinates, and directors in the file's order (the
		// first is the one members are told to call).
		if !reflect.DeepEqual(got, want) {
			t.Errorf("branch %s:\n got %+v\nwant %+v", want.ID, got, want)
		}
	}

	faqs := map[string]bot.FAQ{}
	for _, f := range loaded.FAQs {
		faqs[f.ID] = f
	}
	if len(faqs) != len(kb.FAQs) {
		t.Fatalf("loaded %d FAQs, imported %d", len(faqs), len(kb.FAQs))
	}
	for _, want := range kb.FAQs {
		if got := faqs[want.ID]; !reflect.DeepEqual(got, want) {
			t.Errorf("FAQ %s:\n got %+v\nwant %+v", want.ID, got, want)
		}
	}
}

func TestImportKeepsEntriesTheFileDoesNotMention(t *testing.T) {
	s := newStore(t)
	kb := importDemo(t, s)
	partial := bot.Knowledge{Branches: kb.Branches[:1], FAQs: kb.FAQs[:1]}
	partial.Branches[0].Directors = partial.Branches[0].Directors[:1]
	if err := s.ImportKnowledge(context.Background(), partial); err != nil {
		t.Fatal(err)
	}
	got := countKnowledge(t, s)
	if got.branches != len(kb.Branches) || got.faqs != len(kb.FAQs) {
		t.Errorf("a smaller file removed entries: %+v", got)
	}
	// The branch it does mention gets exactly the directors it lists.
	if n := countRows(t, s, "directors", "branch_id = $1", kb.Branches[0].ID); n != 1 {
		t.Errorf("branch %s has %d directors after listing one", kb.Branches[0].ID, n)
	}
}
