package handlers_test

import (
	"strings"
	"testing"

	"nuanjia/bot"
)

// A member who asks to be forgotten is asked once to confirm; after
// "确认删除" nothing they said, no place and no photo is left in the
// database, their case keeps only its category, branch and dates, and the
// director's alert no longer carries their words.
func TestForgetErasesAfterConfirmation(t *testing.T) {
	d := newCaseDesk(t)
	const m = "o-forget"
	d.member(m, "longlin-xinzhou")
	d.say(m, "同意") // so the phone number and the place are kept, and there is something to erase
	d.say(m, "电话 13912345678")
	d.say(m, "老家 普坪镇")
	d.say(m, "老板欠我三个月工资 电话13912345678")
	n := d.lastCase()
	d.push(bot.Inbound{OpenID: m, Type: bot.TypeLocation, Lat: 24.77, Lng: 105.34, Located: true, Text: "新州镇某小区"})
	d.push(bot.Inbound{OpenID: m, Type: bot.TypeImage, MediaID: "media-wage-slip", PicURL: "http://x/p.jpg"})

	ask := d.say(m, "删除我的信息")
	if !strings.Contains(ask, "确认删除") {
		t.Fatalf("no confirmation asked:\n%s", ask)
	}
	if got := d.count(`SELECT count(*) FROM messages WHERE openid = $1 AND text LIKE '%13912345678%'`, m); got != 2 {
		t.Fatalf("asking alone erased something: %d messages with the phone, want 2", got)
	}
	done := d.say(m, "确认删除")
	checkReadable(t, done)
	if !strings.Contains(done, "已删除") || !strings.Contains(done, "统计") {
		t.Errorf("reply does not say what was erased and what kept:\n%s", done)
	}
	for _, q := range []string{
		`SELECT count(*) FROM messages WHERE openid = $1 AND (text <> '' OR lat IS NOT NULL OR media_id <> '' OR pic_url <> '')`,
		`SELECT count(*) FROM cases WHERE openid = $1`,
		`SELECT count(*) FROM case_actions WHERE actor = $1 OR text LIKE '%13912345678%'`,
		`SELECT count(*) FROM case_evidence WHERE openid = $1`,
		`SELECT count(*) FROM members WHERE openid = $1 AND (branch_id IS NOT NULL OR member_no IS NOT NULL OR erased_at IS NULL
			OR phone <> '' OR hometown <> '' OR consent IS NOT NULL)`,
	} {
		if got := d.count(q, m); got != 0 {
			t.Errorf("%d rows still hold the member's data: %s", got, q)
		}
	}
	if got := d.count(`SELECT count(*) FROM outbox WHERE (openid = $1 OR case_id = (SELECT id FROM cases WHERE number = $2))
		AND text LIKE '%工资%'`, m, n); got != 0 {
		t.Errorf("%d outbox rows still carry the member's words", got)
	}
	k := d.caseNo(n)
	if k.Category != bot.CategoryWages || k.BranchID != "longlin-xinzhou" || k.Status != bot.CaseClosed || k.Summary != "" {
		t.Errorf("case kept as %+v, want wages at Xinzhou, closed, no words", k)
	}
	// The member can still talk to the bot.
	if r := d.say(m, "你好"); r == "" {
		t.Error("no answer after erasure")
	}
}

// Anything but a confirmation leaves the data and is read as usual.
func TestForgetNotConfirmedKeepsData(t *testing.T) {
	d := newCaseDesk(t)
	const m = "o-keep"
	d.say(m, "新州计生协电话多少")
	d.say(m, "删除我的信息")
	if r := d.say(m, "三孩政策有补贴没得"); strings.Contains(r, "已删除") {
		t.Fatalf("erased without confirmation:\n%s", r)
	}
	if got := d.count(`SELECT count(*) FROM messages WHERE openid = $1 AND text = '新州计生协电话多少'`, m); got != 1 {
		t.Errorf("the member's message is gone without confirmation")
	}
	// A late "确认删除" (the question was not pending any more) erases nothing.
	if r := d.say(m, "确认删除"); strings.Contains(r, "已删除") {
		t.Errorf("erased on a confirmation nobody asked for:\n%s", r)
	}
}

func (d *caseDesk) count(query string, args ...any) int {
	d.t.Helper()
	var n int
	if err := d.st.DB().Get(&n, query, args...); err != nil {
		d.t.Fatal(err)
	}
	return n
}
