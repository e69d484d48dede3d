package handlers_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"nuanjia/bot"
	"nuanjia/internal/testkit"
)

// Without consent nothing sensitive is kept: a phone number in a help
// request is masked in the stored message, the case and the director's
// alert; a location answers the look-up and is dropped. With consent both
// are kept; withdrawing drops them again. Checked in the database.
func TestConsentDecidesWhatIsKept(t *testing.T) {
	d := newCaseDesk(t)
	const m = "o-consent"
	d.member(m, "longlin-xinzhou")
	d.say(m, "老板欠我三个月工资不给 我电话13912345678")
	n := d.lastCase()
	for _, q := range []string{
		`SELECT count(*) FROM messages WHERE openid = $1 AND text LIKE '%13912345678%'`,
		`SELECT count(*) FROM cases WHERE openid = $1 AND summary LIKE '%13912345678%'`,
	} {
		if got := d.count(q, m); got != 0 {
			t.Errorf("phone kept without consent: %s", q)
		}
	}
	for _, q := range []string{
		`SELECT count(*) FROM case_actions WHERE text LIKE '%13912345678%'`,
		`SELECT count(*) FROM outbox WHERE text LIKE '%13912345678%' OR template_data::text LIKE '%13912345678%'`,
	} {
		if got := d.count(q); got != 0 {
			t.Errorf("phone kept without consent: %s", q)
		}
	}
	if got := d.count(`SELECT count(*) FROM cases WHERE number = $1 AND summary LIKE '%139******78%'`, n); got != 1 {
		t.Error("the case does not carry the masked number")
	}
	if r := d.sentTo(xinzhouDirector, bot.KindAlert); len(r) == 0 || !strings.Contains(r[0].Text, "欠") {
		t.Error("the director got no alert: masking must not cost the case")
	}
	texts := d.push(bot.Inbound{OpenID: m, Type: bot.TypeLocation, Lat: 24.77, Lng: 105.34, Located: true, Text: "新州镇某小区"})
	if !strings.Contains(strings.Join(texts, ""), "新州") {
		t.Errorf("location answered %q, want the nearest card", texts)
	}
	if got := d.count(`SELECT count(*) FROM messages WHERE openid = $1 AND (lat IS NOT NULL OR text LIKE '%小区%')`, m); got != 0 {
		t.Error("a location was kept without consent")
	}

	if r := d.say(m, "同意"); !strings.Contains(r, "已记下你同意") {
		t.Fatalf("同意 answered:\n%s", r)
	}
	if got := d.count(`SELECT count(*) FROM members WHERE openid = $1 AND consent AND consent_version = $2 AND consent_at IS NOT NULL`,
		m, bot.ConsentVersion); got != 1 {
		t.Error("consent not recorded with its version and time")
	}
	d.say(m, "我换号了 13812345678")
	d.push(bot.Inbound{OpenID: m, Type: bot.TypeLocation, Lat: 24.77, Lng: 105.34, Located: true, Text: "新州"})
	if got := d.count(`SELECT count(*) FROM messages WHERE openid = $1 AND text LIKE '%13812345678%'`, m); got != 1 {
		t.Error("with consent the number was not kept")
	}
	if got := d.count(`SELECT count(*) FROM messages WHERE openid = $1 AND lat IS NOT NULL`, m); got != 1 {
		t.Error("with consent the location was not kept")
	}

	if r := d.say(m, "撤回同意"); !strings.Contains(r, "已撤回") {
		t.Fatalf("撤回同意 answered:\n%s", r)
	}
	if got := d.count(`SELECT count(*) FROM messages WHERE openid = $1 AND (lat IS NOT NULL OR text LIKE '%13812345678%')`, m); got != 0 {
		t.Error("withdrawing consent left the number or the location")
	}
	if got := d.count(`SELECT count(*) FROM members WHERE openid = $1 AND consent = false`, m); got != 1 {
		t.Error("withdrawal not recorded")
	}
}

// Refusing still gets every answer and takes help requests.
func TestNoConsentStillHelps(t *testing.T) {
	d := newCaseDesk(t)
	const m = "o-refuses"
	d.member(m, "longlin-zhebao")
	if r := d.say(m, "不同意"); !strings.Contains(r, "不保存") {
		t.Fatalf("不同意 answered:\n%s", r)
	}
	if r := d.say(m, "在者保工地摔伤了 老板不管"); !strings.Contains(r, "编号") {
		t.Errorf("a help request without consent opened no case:\n%s", r)
	}
	if r := d.say(m, "三孩有补贴吗"); r == "" {
		t.Error("a policy question without consent got no answer")
	}
}

// A director's words are the association's, not a member's: a phone
// number in a reply reaches the member unmasked, whatever the director
// consented to as a member.
func TestDirectorsWordsAreNotMasked(t *testing.T) {
	d := newCaseDesk(t)
	if err := d.st.ImportKnowledge(context.Background(), testkit.DemoKnowledge(t)); err != nil {
		t.Fatal(err)
	}
	const m = "o-needs-number"
	d.member(m, "longlin-xinzhou")
	d.say(m, "老板欠我工资不给")
	n := strconv.FormatInt(d.lastCase(), 10)
	d.say(xinzhouDirector, "接 "+n)
	d.say(xinzhouDirector, "回 "+n+" 打我电话 0776-0000101")
	replies := d.sentTo(m, bot.KindCaseReply)
	if len(replies) != 1 || !strings.Contains(replies[0].Text, "0776-0000101") {
		t.Errorf("the director's number did not reach the member: %+v", replies)
	}
}
