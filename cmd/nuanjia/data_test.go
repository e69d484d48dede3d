package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"nuanjia/bot"
	"nuanjia/internal/pgtest"
	"nuanjia/store"
)

const demoKB = "../../kb/demo.yaml"

// Counts of the demo knowledge base.
const (
	demoBranches  = 15
	demoFAQs      = 14
	demoDirectors = 17
)

// migratedDB returns the environment of a fresh, migrated schema.
func migratedDB(t *testing.T) map[string]string {
	t.Helper()
	vars := map[string]string{"DATABASE_URL": pgtest.URL(t)}
	mustRun(t, vars, "", "migrate")
	return vars
}

// importedDB returns the environment of a fresh schema holding the demo
// knowledge base.
func importedDB(t *testing.T) map[string]string {
	t.Helper()
	vars := migratedDB(t)
	mustRun(t, vars, "", "import", demoKB)
	return vars
}

// knowledgeIn is what the bot would load from the database.
type knowledgeIn struct {
	kb                        bot.Knowledge
	branches, faqs, directors int
}

func loadDB(t *testing.T, vars map[string]string) knowledgeIn {
	t.Helper()
	st, err := store.Open(t.Context(), vars["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var k knowledgeIn
	if k.kb, err = st.LoadKnowledge(t.Context()); err != nil {
		t.Fatal(err)
	}
	for table, n := range map[string]*int{"branches": &k.branches, "faqs": &k.faqs, "directors": &k.directors} {
		if err := st.DB().GetContext(t.Context(), n, "SELECT count(*) FROM "+table); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

func faqAnswer(t *testing.T, kb bot.Knowledge, id string) string {
	t.Helper()
	for _, f := range kb.FAQs {
		if f.ID == id {
			return f.Answer
		}
	}
	t.Fatalf("no FAQ %q in the database", id)
	return ""
}

// editFAQ replaces the first old after the FAQ entry id in a YAML file.
func editFAQ(t *testing.T, yaml, id, old, new string) string {
	t.Helper()
	start := strings.Index(yaml, "- id: "+id+"\n")
	if start < 0 {
		t.Fatalf("no FAQ %q in the YAML", id)
	}
	i := strings.Index(yaml[start:], old)
	if i < 0 {
		t.Fatalf("FAQ %q: %q not found", id, old)
	}
	i += start
	return yaml[:i] + new + yaml[i+len(old):]
}

func readDemo(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(demoKB)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestMigrateTwice(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"DATABASE_URL": pgtest.URL(t)}
	first := strings.Split(strings.TrimSpace(mustRun(t, vars, "", "migrate")), "\n")
	for i, line := range first {
		if want := fmt.Sprintf("applied %04d_", i+1); !strings.HasPrefix(line, want) {
			t.Errorf("first migrate printed %q, want one line per migration in order, line %d starting %q", first, i+1, want)
		}
	}
	if len(first) < 4 {
		t.Errorf("first migrate printed %q, want every migration", first)
	}
	if again := mustRun(t, vars, "", "migrate"); again != "database is up to date\n" {
		t.Errorf("second migrate printed %q, want \"database is up to date\"", again)
	}
}

func TestMigrateWithoutDatabaseURL(t *testing.T) {
	t.Parallel()
	_, _, err := nuanjia(t, map[string]string{}, "", "migrate")
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Errorf("error = %v, want it to name DATABASE_URL", err)
	}
}

func TestImportDemoTwice(t *testing.T) {
	t.Parallel()
	vars := migratedDB(t)
	want := fmt.Sprintf("imported %d branches and %d FAQs from %s\n", demoBranches, demoFAQs, demoKB)
	if out := mustRun(t, vars, "", "import", demoKB); out != want {
		t.Errorf("import printed %q, want %q", out, want)
	}
	once := loadDB(t, vars)
	if once.branches != demoBranches || once.faqs != demoFAQs || once.directors != demoDirectors {
		t.Errorf("after import: %d branches, %d FAQs, %d directors; want %d, %d, %d",
			once.branches, once.faqs, once.directors, demoBranches, demoFAQs, demoDirectors)
	}
	if out := mustRun(t, vars, "", "import", demoKB); out != want {
		t.Errorf("second import printed %q, want %q", out, want)
	}
	twice := loadDB(t, vars)
	if !reflect.DeepEqual(once, twice) {
		t.Errorf("importing the same file again changed the database:\nonce  %+v\ntwice %+v", once, twice)
	}
}

// A broken file is refused with a message a director can act on, and the
// database keeps exactly what it had — including an answer the broken file
// also changed.
func TestImportBrokenFileChangesNothing(t *testing.T) {
	t.Parallel()
	vars := importedDB(t)
	before := loadDB(t, vars)
	oldAnswer := faqAnswer(t, before.kb, "three-child-policy")

	demo := readDemo(t)
	edited := editFAQ(t, demo, "three-child-policy", "可以。2021年", "已改：可以。2021年")
	badDate := editFAQ(t, edited, "three-child-policy", "updated: 2026-03-01", "updated: 2024-13-40")
	unknownField := editFAQ(t, edited, "three-child-policy", "    updated: 2026-03-01\n",
		"    updated: 2026-03-01\n    reviewer: 示例审核人\n")
	both := editFAQ(t, badDate, "three-child-policy", "    updated: 2024-13-40\n",
		"    updated: 2024-13-40\n    reviewer: 示例审核人\n")
	fieldLine := func(yaml string) string {
		before, _, _ := strings.Cut(yaml, "    reviewer:")
		return fmt.Sprintf("line %d:", strings.Count(before, "\n")+1)
	}

	for _, tc := range []struct {
		name, yaml string
		want       []string // every one must be in the error
	}{
		{"bad date", badDate, []string{`faqs[2] (id "three-child-policy"): updated: "2024-13-40" is not a YYYY-MM-DD date`, "nothing imported"}},
		{"unknown field", unknownField, []string{fieldLine(unknownField), "reviewer"}},
		// The YAML decoder stops at the unknown field, so the date is
		// reported once the field is fixed.
		{"bad date and unknown field", both, []string{fieldLine(both), "reviewer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeTemp(t, "kb.yaml", tc.yaml)
			out, _, err := nuanjia(t, vars, "", "import", path)
			if err == nil {
				t.Fatalf("importing a broken file succeeded and printed %q", out)
			}
			if !strings.HasPrefix(err.Error(), path+":") {
				t.Errorf("error = %q, want it to start with the file name", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error = %q\nwant it to contain %q", err, w)
				}
			}
			if strings.HasPrefix(out, "imported") {
				t.Errorf("stdout = %q after a refused import", out)
			}
			after := loadDB(t, vars)
			if got := faqAnswer(t, after.kb, "three-child-policy"); got != oldAnswer {
				t.Errorf("answer changed by a refused import:\n%s", got)
			}
			if !reflect.DeepEqual(before, after) {
				t.Errorf("a refused import changed the database:\nbefore %+v\nafter  %+v", before, after)
			}
		})
	}
}

// A director corrects one answer: the next import carries it, and nothing
// else changes.
func TestImportCorrectedAnswer(t *testing.T) {
	t.Parallel()
	vars := importedDB(t)
	before := loadDB(t, vars)
	const corrected = "可以生三个。2021年修改后的"
	yaml := editFAQ(t, readDemo(t), "three-child-policy", "可以。2021年修改后的", corrected)
	path := writeTemp(t, "demo-corrected.yaml", yaml)
	mustRun(t, vars, "", "import", path)

	after := loadDB(t, vars)
	if got := faqAnswer(t, after.kb, "three-child-policy"); !strings.HasPrefix(got, corrected) {
		t.Errorf("three-child-policy answer after the correction:\n%s\nwant it to start with %q", got, corrected)
	}
	if after.branches != before.branches || after.faqs != before.faqs || after.directors != before.directors {
		t.Errorf("counts changed: before %d/%d/%d, after %d/%d/%d", before.branches, before.faqs, before.directors,
			after.branches, after.faqs, after.directors)
	}
	for i, f := range after.kb.FAQs {
		if f.ID != "three-child-policy" && !reflect.DeepEqual(f, before.kb.FAQs[i]) {
			t.Errorf("FAQ %q changed though the file did not change it", f.ID)
		}
	}
	if !reflect.DeepEqual(after.kb.Branches, before.kb.Branches) {
		t.Error("branches changed though the file did not change them")
	}
}

func TestImportUsage(t *testing.T) {
	t.Parallel()
	_, _, err := nuanjia(t, map[string]string{}, "", "import")
	if err == nil || !strings.Contains(err.Error(), "usage: nuanjia import FILE.yaml") {
		t.Errorf("error = %v, want the import usage", err)
	}
	_, _, err = nuanjia(t, map[string]string{}, "", "import", filepath.Join(t.TempDir(), "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("error = %v, want it to name the missing file", err)
	}
}

func TestExportUnknownMember(t *testing.T) {
	t.Parallel()
	vars := migratedDB(t)
	out, _, err := nuanjia(t, vars, "", "export", "--openid", "no-such-member")
	if err == nil || err.Error() != `no member with openid "no-such-member"` {
		t.Errorf("error = %v, want no member with openid \"no-such-member\"", err)
	}
	if out != "" {
		t.Errorf("stdout = %q, want nothing", out)
	}
}

func TestExportWithoutOpenID(t *testing.T) {
	t.Parallel()
	_, _, err := nuanjia(t, map[string]string{}, "", "export")
	if err == nil || !strings.Contains(err.Error(), "--openid") {
		t.Errorf("error = %v, want the export usage", err)
	}
}
