package handlers_test

import (
	"strconv"
	"strings"
	"testing"

	"nuanjia/bot"
)

// While a case is open, what the member adds goes on it, not into a new
// case; once a director has it, it is relayed to them.
func TestFollowUpAddsToTheOpenCase(t *testing.T) {
	d := newCaseDesk(t)
	d.member("o-f", "longlin-xinzhou")
	n := caseNumberIn(t, d.say("o-f", "老板拖欠工资三个月了"))

	reply := d.say("o-f", "他说过年前也不给")
	checkReadable(t, reply)
	if caseNumberIn(t, reply) != n || d.lastCase() != n {
		t.Fatalf("a second message opened another case: reply %q, newest case %d, want %d", reply, d.lastCase(), n)
	}
	if got := d.sentTo(xinzhouDirector, bot.KindRelay); len(got) != 0 {
		t.Errorf("relayed before anyone accepted: %+v", got)
	}

	d.say(xinzhouDirector, "接 "+strconv.FormatInt(n, 10))
	reply = d.say("o-f", "我们有十几个人都没拿到")
	if !strings.Contains(reply, "示例况会长") {
		t.Errorf("member not told who has it:\n%s", reply)
	}
	relays := d.sentTo(xinzhouDirector, bot.KindRelay)
	if len(relays) != 1 || !strings.Contains(relays[0].Text, "我们有十几个人都没拿到") ||
		!strings.Contains(relays[0].Text, "回 "+strconv.FormatInt(n, 10)) {
		t.Errorf("relay to the assignee = %+v", relays)
	}
	log := d.actions(n)
	want := []string{"message o-f", "accepted " + xinzhouDirector, "message o-f", "relayed bot"}
	if len(log) < len(want) || !equalTail(log, want) {
		t.Errorf("log = %q, want it to end %q", log, want)
	}

	// Words that only look like another request (电话 reads as contact,
	// 明天上午 as a visit) are talk with the director, and reach them.
	for _, words := range []string{"好的谢谢，我等你电话", "我明天上午都在工地", "谢谢"} {
		d.say("o-f", words)
	}
	if got := d.sentTo(xinzhouDirector, bot.KindRelay); len(got) != 4 {
		t.Errorf("relays = %d, want 4: the follow-ups were answered as other requests", len(got))
	}

	// A clear other request is answered as usual and stays off the case.
	card := d.say("o-f", "者保计生协电话多少")
	if !strings.Contains(card, "者保") || strings.Contains(card, "编号") {
		t.Errorf("contact request swallowed by the case:\n%s", card)
	}
	if got := d.sentTo(xinzhouDirector, bot.KindRelay); len(got) != 4 {
		t.Errorf("the contact request was relayed: %d relays", len(got))
	}
}

// A photo sent about an open case is its evidence; once accepted it is
// passed to the director by its media id.
func TestFollowUpAttachesMedia(t *testing.T) {
	d := newCaseDesk(t)
	d.member("o-p", "longlin-xinzhou")
	n := caseNumberIn(t, d.say("o-p", "老板拖欠工资三个月了"))
	d.say(xinzhouDirector, "接 "+strconv.FormatInt(n, 10))
	texts := d.push(bot.Inbound{OpenID: "o-p", Type: bot.TypeImage, MediaID: "media-slip-1", PicURL: "http://img/1"})
	if len(texts) != 1 || caseNumberIn(t, texts[0]) != n {
		t.Fatalf("photo answered %q, want it added to case %d", texts, n)
	}
	var evidence int
	if err := d.st.DB().Get(&evidence, `SELECT count(*) FROM case_evidence e JOIN cases c ON c.id = e.case_id
		WHERE c.number = $1 AND e.media_id = 'media-slip-1'`, n); err != nil || evidence != 1 {
		t.Fatalf("evidence rows = %d (%v), want 1", evidence, err)
	}
	var forwarded bool
	for _, r := range d.sentTo(xinzhouDirector, bot.KindRelay) {
		if r.MediaKind == "image" && r.MediaID == "media-slip-1" {
			forwarded = true
		}
	}
	if !forwarded {
		t.Errorf("the photo was not passed to the director: %+v", d.sentTo(xinzhouDirector, ""))
	}
}

// A photo sent just before the member says what happened belongs to the
// case it opens.
func TestFollowUpMediaBeforeTheCase(t *testing.T) {
	d := newCaseDesk(t)
	d.member("o-early", "longlin-zhebao")
	d.push(bot.Inbound{OpenID: "o-early", Type: bot.TypeImage, MediaID: "media-first"})
	n := caseNumberIn(t, d.say("o-early", "这是老板打的欠条，一直不给钱"))
	var evidence int
	if err := d.st.DB().Get(&evidence, `SELECT count(*) FROM case_evidence e JOIN cases c ON c.id = e.case_id
		WHERE c.number = $1 AND e.media_id = 'media-first'`, n); err != nil || evidence != 1 {
		t.Errorf("evidence rows = %d (%v), want the earlier photo attached", evidence, err)
	}
}

// The closing question: "1" records satisfaction; "2" reopens the case
// with the director who had it.
func TestFollowUpRating(t *testing.T) {
	for _, tt := range []struct {
		answer   string
		rating   int
		reopened bool
	}{{"1", 1, false}, {"不满意", 2, true}} {
		t.Run(tt.answer, func(t *testing.T) {
			d := newCaseDesk(t)
			d.member("o-r", "longlin-xinzhou")
			n := caseNumberIn(t, d.say("o-r", "老板拖欠工资三个月了"))
			num := strconv.FormatInt(n, 10)
			d.say(xinzhouDirector, "接 "+num)
			d.say(xinzhouDirector, "结 "+num+" 老板答应月底付清")
			closing := d.sentTo("o-r", bot.KindCaseNotice)
			if len(closing) == 0 || !strings.Contains(closing[len(closing)-1].Text, "回复 1") {
				t.Fatalf("member not asked to rate: %+v", closing)
			}
			reply := d.say("o-r", tt.answer)
			checkReadable(t, reply)
			k := d.caseNo(n)
			if k.Rating != tt.rating {
				t.Errorf("rating = %d, want %d", k.Rating, tt.rating)
			}
			if got := k.Status == bot.CaseAccepted && k.Assignee == xinzhouDirector; got != tt.reopened {
				t.Errorf("reopened with the director: %v, want %v (%+v)", got, tt.reopened, k)
			}
			told := d.sentTo(xinzhouDirector, bot.KindCaseNotice)
			if tt.reopened && (len(told) != 1 || !strings.Contains(told[0].Text, "不满意")) {
				t.Errorf("director not told of the unhappy member: %+v", told)
			}
			if !tt.reopened && len(told) != 0 {
				t.Errorf("director told after a happy rating: %+v", told)
			}
			// The answer is taken once: another "1" is no rating.
			d.say("o-r", "1")
			if got := strings.Count(strings.Join(d.actions(n), ","), "rated"); got != 1 {
				t.Errorf("rated %d times", got)
			}
		})
	}
}

// equalTail reports whether got ends with want.
func equalTail(got, want []string) bool {
	if len(got) < len(want) {
		return false
	}
	for i, w := range want {
		if got[len(got)-len(want)+i] != w {
			return false
		}
	}
	return true
}
