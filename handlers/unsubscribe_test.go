package handlers_test

import (
	"strconv"
	"strings"
	"testing"

	"nuanjia/bot"
)

// A member who stops following gets nothing more: what waited for them is
// cancelled with the reason, their open case is closed, and the director
// who had it is told. Following again stops the erasure clock.
func TestUnsubscribeCancelsPendingAndClosesCase(t *testing.T) {
	d := newCaseDesk(t)
	const m = "o-leaving"
	d.member(m, "longlin-xinzhou")
	d.say(m, "老板欠我工资不给")
	n := d.lastCase()
	if r := d.say(xinzhouDirector, "接 "+strconv.FormatInt(n, 10)); !strings.Contains(r, "受理") {
		t.Fatalf("director could not accept: %s", r)
	}
	before := d.count(`SELECT count(*) FROM outbox WHERE openid = $1 AND status = 'pending'`, m)
	if before == 0 {
		t.Fatal("nothing pending to the member before they left; the test proves nothing")
	}
	d.push(bot.Inbound{OpenID: m, Type: bot.TypeEvent, Event: bot.EventUnsubscribe})

	if got := d.count(`SELECT count(*) FROM outbox WHERE openid = $1 AND status = 'pending'`, m); got != 0 {
		t.Errorf("%d messages still pending to a member who left", got)
	}
	if got := d.count(`SELECT count(*) FROM outbox WHERE openid = $1 AND status = 'cancelled' AND cancelled_reason = 'unsubscribed'`, m); got != before {
		t.Errorf("%d rows cancelled as unsubscribed, want %d", got, before)
	}
	if k := d.caseNo(n); k.Status != bot.CaseClosed {
		t.Errorf("case %d is %s after the member left, want closed", n, k.Status)
	}
	told := d.sentTo(xinzhouDirector, bot.KindCaseNotice)
	if len(told) == 0 || !strings.Contains(told[len(told)-1].Text, "取消关注") {
		t.Errorf("the assignee was not told the member left: %+v", told)
	}
	if got := d.count(`SELECT count(*) FROM members WHERE openid = $1 AND unsubscribed_at IS NOT NULL`, m); got != 1 {
		t.Error("the time they left is not recorded")
	}
	d.push(bot.Inbound{OpenID: m, Type: bot.TypeEvent, Event: bot.EventSubscribe})
	if got := d.count(`SELECT count(*) FROM members WHERE openid = $1 AND unsubscribed_at IS NULL AND subscribed`, m); got != 1 {
		t.Error("following again did not clear the time they left")
	}
}
