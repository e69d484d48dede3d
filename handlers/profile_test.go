package handlers_test

import (
	"strings"
	"testing"
)

// 我的信息 shows what is stored, consent included; a phone is kept only
// with consent and only when it is one; "我现在在者保乡" moves the member
// after one tap.
func TestProfileSeeSetAndMove(t *testing.T) {
	d := newCaseDesk(t)
	const m = "o-profile"
	d.member(m, "longlin-xinzhou")
	r := d.say(m, "我的信息")
	checkReadable(t, r)
	for _, want := range []string{"会员号：", "新州", "电话：未留", "没回答过"} {
		if !strings.Contains(r, want) {
			t.Errorf("我的信息 lacks %q:\n%s", want, r)
		}
	}
	if r := d.say(m, "电话 13912345678"); !strings.Contains(r, "同意") {
		t.Errorf("a phone without consent answered:\n%s", r)
	}
	if got := d.count(`SELECT count(*) FROM members WHERE openid = $1 AND phone <> ''`, m); got != 0 {
		t.Fatal("a phone was stored without consent")
	}
	d.say(m, "同意")
	if r := d.say(m, "电话 12345"); !strings.Contains(r, "不像") {
		t.Errorf("a bad number answered:\n%s", r)
	}
	if r := d.say(m, "我的电话是139-1234-5678"); !strings.Contains(r, "13912345678") {
		t.Errorf("a good number answered:\n%s", r)
	}
	if r := d.say(m, "老家 普坪镇"); !strings.Contains(r, "普坪镇") {
		t.Errorf("hometown answered:\n%s", r)
	}
	r = d.say(m, "我的信息")
	for _, want := range []string{"13912345678", "普坪镇", "已同意"} {
		if !strings.Contains(r, want) {
			t.Errorf("我的信息 after setting lacks %q:\n%s", want, r)
		}
	}

	if r := d.say(m, "我现在在者保乡"); !strings.Contains(r, "回复 1") {
		t.Fatalf("moving answered:\n%s", r)
	}
	if got := d.count(`SELECT count(*) FROM members WHERE openid = $1 AND branch_id = 'longlin-xinzhou'`, m); got != 1 {
		t.Fatal("moved before the member confirmed")
	}
	if r := d.say(m, "1"); !strings.Contains(r, "已改好") {
		t.Fatalf("confirming the move answered:\n%s", r)
	}
	if got := d.count(`SELECT count(*) FROM members WHERE openid = $1 AND branch_id = 'longlin-zhebao' AND city = '者保乡'`, m); got != 1 {
		t.Error("the member was not moved to 者保")
	}
}

// A director sees the profile of a member of their branch (and the county
// of anyone's), each look audited; another branch's director and members
// see nothing.
func TestDirectorSeesMemberProfile(t *testing.T) {
	d := newCaseDesk(t)
	const m = "o-member"
	d.member(m, "longlin-xinzhou")
	d.say(m, "同意")
	d.say(m, "电话 13912345678")
	no := memberNoIn(t, d.say(m, "我的信息"))
	if r := d.say(xinzhouDirector, "会员 "+no); !strings.Contains(r, "13912345678") {
		t.Errorf("the branch director did not see the profile:\n%s", r)
	}
	if r := d.say(countyDirector, "会员 "+no); !strings.Contains(r, "13912345678") {
		t.Errorf("the county director did not see the profile:\n%s", r)
	}
	if got := d.count(`SELECT count(*) FROM audit_log WHERE subject = $1 AND what = 'profile_view'`, m); got != 2 {
		t.Errorf("%d audit rows for two looks", got)
	}
	for _, who := range []string{zhebaoDirector, "o-other-member"} {
		if r := d.say(who, "会员 "+no); strings.Contains(r, "13912345678") {
			t.Errorf("%s saw another member's phone:\n%s", who, r)
		}
	}
	if got := d.count(`SELECT count(*) FROM audit_log WHERE subject = $1 AND what = 'profile_view'`, m); got != 2 {
		t.Errorf("refused looks were audited: %d rows", got)
	}
}

func memberNoIn(t *testing.T, reply string) string {
	t.Helper()
	_, after, ok := strings.Cut(reply, "会员号：")
	if !ok {
		t.Fatalf("no member number in:\n%s", reply)
	}
	no, _, _ := strings.Cut(after, "\n")
	return no
}
