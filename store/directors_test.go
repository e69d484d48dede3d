package store

import (
	"context"
	"strings"
	"testing"

	"nuanjia/bot"
)

const (
	zhebao  = "longlin-zhebao"
	xinzhou = "longlin-xinzhou"
	newDir  = "o-new-director"
)

// directorsOf are the directors the bot loads for branch, in order.
func directorsOf(t *testing.T, s *Store, branch string) []bot.Director {
	t.Helper()
	for _, b := range loadKnowledge(t, s).Branches {
		if b.ID == branch {
			return b.Directors
		}
	}
	t.Fatalf("no branch %s loaded", branch)
	return nil
}

func addDirector(t *testing.T, s *Store, d DirectorRow) bool {
	t.Helper()
	created, err := s.AddDirector(context.Background(), d)
	if err != nil {
		t.Fatalf("AddDirector(%+v): %v", d, err)
	}
	return created
}

func listRowsOf(t *testing.T, s *Store, openID string) []DirectorRow {
	t.Helper()
	all, err := s.ListDirectors(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []DirectorRow
	for _, r := range all {
		if r.OpenID == openID {
			out = append(out, r)
		}
	}
	return out
}

// A director staff add from the command line is still a director after
// the file is imported again, even one that now lists more directors for
// the branch, and stays after the file's.
func TestCLIDirectorSurvivesReimport(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	importDemo(t, s)
	if !addDirector(t, s, DirectorRow{OpenID: newDir, BranchID: zhebao, Name: "新主任", Phone: "0776-0000999", AddedBy: "staff-li"}) {
		t.Error("a first add reported an update")
	}
	want := bot.Director{Name: "新主任", OpenID: newDir, Phone: "0776-0000999"}
	got := directorsOf(t, s, zhebao)
	if len(got) != 2 || got[1] != want {
		t.Fatalf("Zhebao's directors after the add: %+v, want the file's then %+v", got, want)
	}

	importDemo(t, s)
	if got := directorsOf(t, s, zhebao); len(got) != 2 || got[1] != want {
		t.Errorf("Zhebao's directors after a re-import: %+v, want the CLI's kept", got)
	}

	// The file now lists two more for Zhebao: they take the positions the
	// CLI's director had, and the CLI's moves after them.
	kb := demoKB(t)
	for i, b := range kb.Branches {
		if b.ID == zhebao {
			kb.Branches[i].Directors = append(kb.Branches[i].Directors,
				bot.Director{Name: "文件甲", OpenID: "o-file-a"}, bot.Director{Name: "文件乙", OpenID: "o-file-b"})
		}
	}
	if err := s.ImportKnowledge(ctx, kb); err != nil {
		t.Fatalf("import with more directors than before: %v", err)
	}
	got = directorsOf(t, s, zhebao)
	if len(got) != 4 || got[1].OpenID != "o-file-a" || got[2].OpenID != "o-file-b" || got[3] != want {
		t.Errorf("Zhebao's directors: %+v, want the file's three then %s", got, newDir)
	}
	rows := listRowsOf(t, s, newDir)
	if len(rows) != 1 || rows[0].Source != DirectorFromCLI || rows[0].AddedBy != "staff-li" || rows[0].AddedAt.IsZero() {
		t.Errorf("list shows %+v, want one cli row added by staff-li", rows)
	}
	if file := listRowsOf(t, s, "o-file-a"); len(file) != 1 || file[0].Source != DirectorFromKB || file[0].AddedBy != "" {
		t.Errorf("list shows the file's director as %+v, want source kb", file)
	}
}

func TestAddDirectorTwiceUpdatesTheRow(t *testing.T) {
	s := newStore(t)
	importDemo(t, s)
	addDirector(t, s, DirectorRow{OpenID: newDir, BranchID: zhebao, Name: "新主任", Phone: "0776-0000999", AddedBy: "staff-li"})
	// Made county director; name and phone not given again are kept.
	if addDirector(t, s, DirectorRow{OpenID: newDir, BranchID: zhebao, County: true, AddedBy: "staff-wang"}) {
		t.Error("adding the same openid to the same branch again reported a new director")
	}
	rows := listRowsOf(t, s, newDir)
	if len(rows) != 1 {
		t.Fatalf("%d rows for %s after two adds, want 1: %+v", len(rows), newDir, rows)
	}
	if r := rows[0]; !r.County || r.Name != "新主任" || r.Phone != "0776-0000999" || r.AddedBy != "staff-wang" {
		t.Errorf("row after the second add: %+v, want county, the name and phone kept, added by staff-wang", r)
	}
	// The same person on another branch is another row.
	if !addDirector(t, s, DirectorRow{OpenID: newDir, BranchID: xinzhou, AddedBy: "staff-li"}) {
		t.Error("adding to a second branch reported an update")
	}
	if rows := listRowsOf(t, s, newDir); len(rows) != 2 {
		t.Errorf("%d rows for %s on two branches, want 2", len(rows), newDir)
	}
}

// Bad input gets a short error and changes nothing.
func TestAddDirectorRefusesBadInput(t *testing.T) {
	s := newStore(t)
	importDemo(t, s)
	before, version := countKnowledge(t, s), knowledgeVersion(t, s)
	fileDirector := directorsOf(t, s, zhebao)[0].OpenID
	for _, c := range []struct {
		name string
		row  DirectorRow
		want string
	}{
		{"unknown branch", DirectorRow{OpenID: newDir, BranchID: "nowhere", AddedBy: "staff"}, `no branch "nowhere"`},
		{"no openid", DirectorRow{OpenID: " ", BranchID: zhebao, AddedBy: "staff"}, "openid"},
		{"no branch", DirectorRow{OpenID: newDir, AddedBy: "staff"}, "branch"},
		{"nobody adding", DirectorRow{OpenID: newDir, BranchID: zhebao}, "who"},
		{"already in the file", DirectorRow{OpenID: fileDirector, BranchID: zhebao, County: true, AddedBy: "staff"}, "knowledge-base file"},
	} {
		_, err := s.AddDirector(context.Background(), c.row)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
	}
	if after := countKnowledge(t, s); after != before {
		t.Errorf("refused adds changed the counts: %+v, was %+v", after, before)
	}
	if v := knowledgeVersion(t, s); v != version {
		t.Errorf("refused adds changed the knowledge version: %q, was %q", v, version)
	}
}

func TestRemoveDirector(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	importDemo(t, s)
	addDirector(t, s, DirectorRow{OpenID: newDir, BranchID: zhebao, AddedBy: "staff"})
	addDirector(t, s, DirectorRow{OpenID: newDir, BranchID: xinzhou, AddedBy: "staff"})

	n, err := s.RemoveDirector(ctx, newDir, zhebao)
	if err != nil || n != 1 {
		t.Fatalf("RemoveDirector(branch) = %d, %v; want 1", n, err)
	}
	if rows := listRowsOf(t, s, newDir); len(rows) != 1 || rows[0].BranchID != xinzhou {
		t.Errorf("after removing from Zhebao: %+v, want the Xinzhou row only", rows)
	}
	// A file's director goes too (until the file lists them again).
	fileDirector := directorsOf(t, s, zhebao)[0].OpenID
	addDirector(t, s, DirectorRow{OpenID: fileDirector, BranchID: xinzhou, AddedBy: "staff"})
	if n, err := s.RemoveDirector(ctx, fileDirector, ""); err != nil || n != 2 {
		t.Errorf("RemoveDirector(all branches) of a file director also added on Xinzhou = %d, %v; want 2", n, err)
	}
	if got := directorsOf(t, s, zhebao); len(got) != 0 {
		t.Errorf("Zhebao still loads %+v", got)
	}
	if n, err := s.RemoveDirector(ctx, "o-nobody", ""); err != nil || n != 0 {
		t.Errorf("removing someone who is no director = %d, %v; want 0, nil", n, err)
	}
	if _, err := s.RemoveDirector(ctx, "", ""); err == nil {
		t.Error("removing an empty openid succeeded")
	}
}

// A serving process reloads when KnowledgeVersion changes: every director
// command that changes something must change it.
func TestDirectorChangesMoveKnowledgeVersion(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	importDemo(t, s)
	steps := []struct {
		name string
		do   func() error
	}{
		{"add", func() error {
			_, err := s.AddDirector(ctx, DirectorRow{OpenID: newDir, BranchID: zhebao, AddedBy: "staff"})
			return err
		}},
		{"add again as county", func() error {
			_, err := s.AddDirector(ctx, DirectorRow{OpenID: newDir, BranchID: zhebao, County: true, AddedBy: "staff"})
			return err
		}},
		{"remove", func() error { _, err := s.RemoveDirector(ctx, newDir, ""); return err }},
		{"remove a file director", func() error { _, err := s.RemoveDirector(ctx, "demo-openid-xinzhou-1", ""); return err }},
	}
	for _, step := range steps {
		before := knowledgeVersion(t, s)
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if after := knowledgeVersion(t, s); after == before {
			t.Errorf("%s left KnowledgeVersion at %q: a running serve would not reload", step.name, after)
		}
	}
}

// When the file comes to list a director the CLI added on the same
// branch, the file takes them over: one row, so one alert each.
func TestImportTakesOverACLIDirectorItLists(t *testing.T) {
	s := newStore(t)
	importDemo(t, s)
	addDirector(t, s, DirectorRow{OpenID: newDir, BranchID: zhebao, Name: "新主任", AddedBy: "staff"})
	kb := demoKB(t)
	for i, b := range kb.Branches {
		if b.ID == zhebao {
			kb.Branches[i].Directors = append(kb.Branches[i].Directors, bot.Director{Name: "新主任", OpenID: newDir})
		}
	}
	if err := s.ImportKnowledge(context.Background(), kb); err != nil {
		t.Fatal(err)
	}
	rows := listRowsOf(t, s, newDir)
	if len(rows) != 1 || rows[0].Source != DirectorFromKB {
		t.Errorf("rows for %s after the file lists them: %+v, want one kb row", newDir, rows)
	}
}
