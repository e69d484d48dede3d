package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"nuanjia/internal/wxtest"
)

// A member placed by what they said, then moving with "我现在在者保乡" and
// one tap: the running server's tag sync takes them off the 新州 tag and
// puts them on the 者保 one, at the fake WeChat API.
func TestMovingBranchMovesTheTag(t *testing.T) {
	t.Parallel()
	w := newCFWorld(t, map[string]string{"TAG_SYNC_EVERY": "200ms"})
	s := w.serve("A", "")
	const member = "o-cf-mover"
	if r := s.say(member, "新州计生协电话多少"); !strings.Contains(r, "新州") {
		t.Fatalf("first message → %q", r)
	}
	tagged := func(path string) func() bool {
		return func() bool {
			return slices.ContainsFunc(w.fake.Calls(path), func(c wxtest.Call) bool {
				ids, _ := c.JSON["openid_list"].([]any)
				return slices.Contains(ids, any(member)) && c.Errcode == 0
			})
		}
	}
	w.eventually(20*time.Second, "the member is tagged 新州", tagged("/cgi-bin/tags/members/batchtagging"))
	if r := s.say(member, "我现在在者保乡"); !strings.Contains(r, "回复 1") {
		t.Fatalf("moving → %q, want the one-tap question", r)
	}
	if r := s.say(member, "1"); !strings.Contains(r, "已改好") {
		t.Fatalf("1 → %q, want the move confirmed", r)
	}
	w.eventually(20*time.Second, "the member is untagged from 新州", tagged("/cgi-bin/tags/members/batchuntagging"))
	w.eventually(20*time.Second, "WeChat holds the 者保 tag", func() bool {
		var branch string
		_ = s.a.st.DB().Get(&branch, `SELECT COALESCE(tagged_branch, '') FROM members WHERE openid = $1`, member)
		return branch == "longlin-zhebao"
	})
	if n := len(w.fake.Calls("/cgi-bin/tags/create")); n != 2 {
		t.Errorf("%d tags created, want one for each branch the member was in", n)
	}
}
