package wxapi_test

import (
	"context"
	"strings"
	"testing"

	"nuanjia/bot/wxapi"
)

// A mass send carries its clientmsgid; sent again with the same one,
// WeChat (the fake, as the platform documents) takes no second job and
// answers 45065 with the first job's msg_id, which the client returns as
// a success marked repeated.
func TestMassSendWithClientMsgIDIsSafeToRepeat(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	ctx := context.Background()
	tag, err := c.CreateTag(ctx, "新州镇计生协")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.TagMembers(ctx, tag, []string{"oA", "oB"}); err != nil {
		t.Fatal(err)
	}
	m := wxapi.MassText{TagID: tag, Text: "政策通知", ClientMsgID: "nuanjia-b7-t" + jsonInt(tag)}
	first, repeated, err := c.MassSendText(ctx, m)
	if err != nil || first == 0 || repeated {
		t.Fatalf("first send = %d, %v, %v", first, repeated, err)
	}
	jsonEq(t, "mass/sendall", lastCall(t, e.fake, "message/mass/sendall").Body,
		`{"filter":{"is_to_all":false,"tag_id":`+jsonInt(tag)+`},"text":{"content":"政策通知"},"msgtype":"text","clientmsgid":"`+m.ClientMsgID+`"}`)
	again, repeated, err := c.MassSendText(ctx, m)
	if err != nil || again != first || !repeated {
		t.Fatalf("repeat = %d, %v, %v; want the first msg_id %d, repeated", again, repeated, err, first)
	}
	jobs := e.fake.MassSends()
	if len(jobs) != 1 || strings.Join(jobs[0].Recipients, ",") != "oA,oB" {
		t.Errorf("jobs %+v, want one to oA and oB", jobs)
	}
	// Another clientmsgid is another job.
	m.ClientMsgID += "-2"
	if other, _, err := c.MassSendText(ctx, m); err != nil || other == first {
		t.Errorf("another clientmsgid = %d, %v", other, err)
	}
	if len(e.fake.MassSends()) != 2 {
		t.Error("a new clientmsgid made no job")
	}

	// To every follower and by openids, the same way.
	if _, _, err := c.MassSendText(ctx, wxapi.MassText{ToAll: true, Text: "通知", ClientMsgID: "all-1"}); err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "mass/sendall to all", lastCall(t, e.fake, "message/mass/sendall").Body,
		`{"filter":{"is_to_all":true,"tag_id":0},"text":{"content":"通知"},"msgtype":"text","clientmsgid":"all-1"}`)
	if _, _, err := c.MassSendText(ctx, wxapi.MassText{OpenIDs: []string{"oA", "oB"}, Text: "通知", ClientMsgID: "ids-1"}); err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "mass/send", lastCall(t, e.fake, "message/mass/send").Body,
		`{"touser":["oA","oB"],"msgtype":"text","text":{"content":"通知"},"clientmsgid":"ids-1"}`)

	// What WeChat must refuse is refused before a call.
	before := len(e.fake.Calls(""))
	for _, bad := range []wxapi.MassText{
		{TagID: tag, Text: "x", ClientMsgID: strings.Repeat("a", wxapi.MaxClientMsgID+1)},
		{TagID: tag},
		{Text: "nobody"},
	} {
		if _, _, err := c.MassSendText(ctx, bad); err == nil || wxapi.KindOf(err) != wxapi.KindPermanent {
			t.Errorf("MassSendText(%+v) = %v, want a permanent error", bad, err)
		}
	}
	if len(e.fake.Calls("")) != before {
		t.Error("a send WeChat must refuse reached it")
	}
}

// Other errcodes stay errors, with their kind.
func TestMassSendErrors(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	for code, kind := range map[int]wxapi.Kind{45009: wxapi.KindRetryLater, 45028: wxapi.KindPermanent, 43004: wxapi.KindUnsubscribed} {
		e.fake.FailNext("message/mass/sendall", code, 1)
		if id, repeated, err := c.MassSendText(context.Background(), wxapi.MassText{TagID: 100, Text: "x", ClientMsgID: "c"}); err == nil || id != 0 || repeated || wxapi.KindOf(err) != kind {
			t.Errorf("errcode %d: %d, %v, %v (kind %s), want %s", code, id, repeated, err, wxapi.KindOf(err), kind)
		}
	}
	if n := len(e.fake.MassSends()); n != 0 {
		t.Errorf("%d jobs taken on errors", n)
	}
}

// The preview goes to one follower through message/mass/preview.
func TestPreviewText(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	if err := c.PreviewText(context.Background(), "oStaff", "政策通知 <预览>&"); err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "mass/preview", lastCall(t, e.fake, "message/mass/preview").Body,
		`{"touser":"oStaff","text":{"content":"政策通知 <预览>&"},"msgtype":"text"}`)
	if p := e.fake.Previews(); len(p) != 1 || p[0].ToUser != "oStaff" || p[0].Text != "政策通知 <预览>&" {
		t.Errorf("previews %+v", p)
	}
	if len(e.fake.MassSends()) != 0 {
		t.Error("a preview made a mass-send job")
	}
}
