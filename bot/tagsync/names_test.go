package tagsync_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"nuanjia/bot/tagsync"
	"nuanjia/internal/testkit"
)

func TestTagNamesAreShortNamesPeopleKnow(t *testing.T) {
	var branches []tagsync.Branch
	for _, b := range testkit.DemoKnowledge(t).Branches {
		branches = append(branches, tagsync.Branch{ID: b.ID, Name: b.Name})
	}
	names := tagsync.TagNames(branches)
	for id, want := range map[string]string{
		"county":          "安龙县计生协",
		"longlin-xinzhou": "新州镇计生协",
		"longshan-hongfa": "龙山泓发煤矿计生协",
	} {
		if names[id] != want {
			t.Errorf("tag of %s = %q, want %q", id, names[id], want)
		}
	}
	seen := map[string]string{}
	for _, b := range branches {
		n := names[b.ID]
		if n == "" || len(n) > tagsync.MaxTagName || !utf8.ValidString(n) {
			t.Errorf("tag of %s = %q (%d bytes): WeChat takes 1 to 30 bytes of valid text", b.ID, n, len(n))
		}
		if other, dup := seen[n]; dup {
			t.Errorf("%s and %s would share the tag %q", other, b.ID, n)
		}
		seen[n] = b.ID
	}
}

func TestLongTagNamesAreCutOnACharacter(t *testing.T) {
	names := tagsync.TagNames([]tagsync.Branch{
		// 11 characters, 33 bytes: the common ending goes first.
		{ID: "jinlong", Name: "招堤街道金龙社区流动人口计生协"},
		// Still too long without it: cut after the 10th character.
		{ID: "long", Name: "一二三四五六七八九十十一十二厂计生协"},
		{ID: "mixed", Name: "ab一二三四五六七八九十"},
	})
	for id, want := range map[string]string{
		"jinlong": "招堤街道金龙社区",
		"long":    "一二三四五六七八九十",
		"mixed":   "ab一二三四五六七八九", // 29 bytes: 十 would make 32
	} {
		if names[id] != want {
			t.Errorf("tag of %s = %q, want %q", id, names[id], want)
		}
	}
}

func TestBranchesAlikeGetDifferentTags(t *testing.T) {
	a := tagsync.Branch{ID: "quarry-east", Name: "安龙县某某镇某某村第一石材加工厂流动人口计生协"}
	b := tagsync.Branch{ID: "quarry-west", Name: "安龙县某某镇某某村第一石材加工厂二分厂流动人口计生协"}
	c := tagsync.Branch{ID: "park", Name: "工业园区计生协"}
	names := tagsync.TagNames([]tagsync.Branch{a, b, c})
	if names[a.ID] == names[b.ID] {
		t.Fatalf("both branches are tagged %q", names[a.ID])
	}
	for _, br := range []tagsync.Branch{a, b} {
		n := names[br.ID]
		if len(n) > tagsync.MaxTagName || !utf8.ValidString(n) || !strings.HasPrefix(n, "安龙县某某") || !strings.HasSuffix(n, br.ID) {
			t.Errorf("tag of %s = %q (%d bytes), want the name's start and the id within 30 bytes", br.ID, n, len(n))
		}
	}
	if names[c.ID] != "工业园区计生协" {
		t.Errorf("a branch unlike the others got %q", names[c.ID])
	}
	// The same branches in another order get the same names: a round that
	// looks a tag up by name finds the one an earlier round made.
	again := tagsync.TagNames([]tagsync.Branch{c, b, a})
	for id, n := range names {
		if again[id] != n {
			t.Errorf("tag of %s is %q in one order and %q in another", id, n, again[id])
		}
	}
}
