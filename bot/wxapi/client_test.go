package wxapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"nuanjia/internal/testkit"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-redis/redis/v8"
	"github.com/silenceper/wechat/v2/officialaccount/menu"

	"nuanjia/bot/wxapi"
	"nuanjia/internal/wxtest"
	"nuanjia/store"
)

// env is one fake WeChat plus one Redis key space; every client made from
// it acts like a separate serve process sharing that Redis.
type env struct {
	fake   *wxtest.FakeAPI
	url    string
	rdb    *redis.Client
	prefix string
	logs   *testkit.LogBuffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	rdb, prefix := wxtest.Redis(t)
	fake := wxtest.NewFakeAPI()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return &env{fake: fake, url: srv.URL, rdb: rdb, prefix: prefix, logs: &testkit.LogBuffer{}}
}

func (e *env) client(t *testing.T, mod ...func(*wxapi.Config)) *wxapi.Client {
	t.Helper()
	cfg := wxapi.Config{
		AppID: wxtest.FakeAppID, AppSecret: wxtest.FakeSecret, BaseURL: e.url,
		Tokens: store.NewRedisTokens(e.rdb, e.prefix),
		Logger: slog.New(slog.NewTextHandler(e.logs, nil)),
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := wxapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func lastCall(t *testing.T, f *wxtest.FakeAPI, path string) wxtest.Call {
	t.Helper()
	calls := f.Calls(path)
	if len(calls) == 0 {
		t.Fatalf("no call to %s", path)
	}
	return calls[len(calls)-1]
}

// jsonEq compares a recorded body with the JSON WeChat documents.
func jsonEq(t *testing.T, name string, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: body is not JSON: %s", name, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad expectation: %v", name, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s body:\n got %s\nwant %s", name, got, want)
	}
}

func TestPayloads(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	ctx := context.Background()

	if err := c.SendText(ctx, "oMember1", "你好 <b>&"); err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "custom/send", lastCall(t, e.fake, "message/custom/send").Body,
		`{"touser":"oMember1","msgtype":"text","text":{"content":"你好 <b>&"}}`)

	id, err := c.SendTemplate(ctx, wxapi.TemplateMessage{ToUser: "oDirector", TemplateID: "TPL1",
		URL: "https://example.org/a?b=1&c=2", Data: map[string]string{"first": "新求助", "keyword1": "#123"}})
	if err != nil || id == 0 {
		t.Fatalf("SendTemplate = %d, %v", id, err)
	}
	jsonEq(t, "template/send", lastCall(t, e.fake, "message/template/send").Body,
		`{"touser":"oDirector","template_id":"TPL1","url":"https://example.org/a?b=1&c=2",
		  "data":{"first":{"value":"新求助"},"keyword1":{"value":"#123"}}}`)
	if _, err := c.SendTemplate(ctx, wxapi.TemplateMessage{ToUser: "o", TemplateID: "T", Data: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "template/send without url", lastCall(t, e.fake, "message/template/send").Body,
		`{"touser":"o","template_id":"T","data":{"k":{"value":"v"}}}`)

	if id, err := c.MassSendTextByTag(ctx, 134, "政策通知"); err != nil || id == 0 {
		t.Fatalf("MassSendTextByTag = %d, %v", id, err)
	}
	jsonEq(t, "mass/sendall", lastCall(t, e.fake, "message/mass/sendall").Body,
		`{"filter":{"is_to_all":false,"tag_id":134},"text":{"content":"政策通知"},"msgtype":"text"}`)

	if id, err := c.MassSendTextToOpenIDs(ctx, []string{"oA", "oB"}, "通知"); err != nil || id == 0 {
		t.Fatalf("MassSendTextToOpenIDs = %d, %v", id, err)
	}
	jsonEq(t, "mass/send", lastCall(t, e.fake, "message/mass/send").Body,
		`{"touser":["oA","oB"],"msgtype":"text","text":{"content":"通知"}}`)
	before := len(e.fake.Calls("message/mass/send"))
	if _, err := c.MassSendTextToOpenIDs(ctx, []string{"oA"}, "x"); err == nil || wxapi.KindOf(err) != wxapi.KindPermanent {
		t.Errorf("mass send to one openid: %v", err)
	}
	if len(e.fake.Calls("message/mass/send")) != before {
		t.Error("mass send to one openid reached WeChat")
	}

	tagID, err := c.CreateTag(ctx, "城东片区")
	if err != nil || tagID == 0 {
		t.Fatalf("CreateTag = %d, %v", tagID, err)
	}
	jsonEq(t, "tags/create", lastCall(t, e.fake, "tags/create").Body, `{"tag":{"name":"城东片区"}}`)

	if err := c.TagMembers(ctx, tagID, []string{"oA", "oB"}); err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "batchtagging", lastCall(t, e.fake, "tags/members/batchtagging").Body,
		`{"openid_list":["oA","oB"],"tagid":`+jsonInt(tagID)+`}`)
	tags, err := c.Tags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := lastCall(t, e.fake, "tags/get"); len(got.Body) != 0 {
		t.Errorf("tags/get sent a body: %s", got.Body)
	}
	if !containsTag(tags, wxapi.Tag{ID: tagID, Name: "城东片区", Count: 2}) {
		t.Errorf("Tags = %+v", tags)
	}
	if err := c.UntagMembers(ctx, tagID, []string{"oA"}); err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "batchuntagging", lastCall(t, e.fake, "tags/members/batchuntagging").Body,
		`{"openid_list":["oA"],"tagid":`+jsonInt(tagID)+`}`)

	err = c.SetMenu(ctx, []*menu.Button{
		menu.NewClickButton("求助", "HELP"),
		menu.NewSubButton("更多", []*menu.Button{
			menu.NewViewButton("官网", "https://example.org/?a=1&b=2"),
			menu.NewLocationSelectButton("找分会", "NEAR"),
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "menu/create", lastCall(t, e.fake, "menu/create").Body,
		`{"button":[{"type":"click","name":"求助","key":"HELP"},
		  {"name":"更多","sub_button":[{"type":"view","name":"官网","url":"https://example.org/?a=1&b=2"},
		                              {"type":"location_select","name":"找分会","key":"NEAR"}]}]}`)

	// Every API call carried the one token the client fetched.
	tok, err := c.AccessToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, call := range e.fake.Calls("") {
		if call.Path == "/cgi-bin/stable_token" {
			continue
		}
		if call.Query.Get("access_token") != tok || call.Errcode != 0 {
			t.Errorf("%s: token %q errcode %d", call.Path, call.Query.Get("access_token"), call.Errcode)
		}
	}
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func containsTag(tags []wxapi.Tag, want wxapi.Tag) bool {
	for _, t := range tags {
		if t == want {
			return true
		}
	}
	return false
}

func TestTokenFetchedOnceAndShared(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c1 := e.client(t)
	for range 3 {
		if err := c1.SendText(ctx, "oA", "hi"); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.fake.TokenFetches(); n != 1 {
		t.Fatalf("token fetches = %d, want 1", n)
	}
	jsonEq(t, "stable_token", lastCall(t, e.fake, "stable_token").Body,
		`{"grant_type":"client_credential","appid":"`+wxtest.FakeAppID+`","secret":"`+wxtest.FakeSecret+`","force_refresh":false}`)
	ttl := e.rdb.TTL(ctx, e.prefix+"wx:token:"+wxtest.FakeAppID).Val()
	if ttl < 6890*time.Second || ttl > 6900*time.Second {
		t.Errorf("cached token TTL = %v, want expires_in-300s = 6900s", ttl)
	}

	c2 := e.client(t) // a second process with the same Redis prefix
	if err := c2.SendText(ctx, "oA", "hi"); err != nil {
		t.Fatal(err)
	}
	if n := e.fake.TokenFetches(); n != 1 {
		t.Fatalf("second client refetched: token fetches = %d", n)
	}
}

func TestColdCacheStampede(t *testing.T) {
	e := newEnv(t)
	// A slow token endpoint widens the window in which everyone misses.
	e.fake.Delay("stable_token", 150*time.Millisecond)
	clients := []*wxapi.Client{e.client(t), e.client(t), e.client(t)}
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for _, c := range clients {
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- c.SendText(context.Background(), "oA", "hi")
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := e.fake.TokenFetches(); n != 1 {
		t.Fatalf("token fetches = %d, want exactly 1", n)
	}
	if n := len(e.fake.Calls("message/custom/send")); n != 30 {
		t.Errorf("custom/send calls = %d, want 30", n)
	}
}

func TestLockHolderVanished(t *testing.T) {
	e := newEnv(t)
	// Another process took the lock and died without unlocking: the client
	// waits for the lock to expire, then fetches itself.
	tc := store.NewRedisTokens(e.rdb, e.prefix)
	if _, ok, err := tc.LockRefresh(context.Background(), wxtest.FakeAppID, 300*time.Millisecond); err != nil || !ok {
		t.Fatalf("lock: %v %v", ok, err)
	}
	start := time.Now()
	if err := e.client(t).SendText(context.Background(), "oA", "hi"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("fetched after %v, before the holder's lock expired", d)
	}
	if n := e.fake.TokenFetches(); n != 1 {
		t.Errorf("token fetches = %d", n)
	}
}

func TestInvalidTokenRetriedOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client(t)
	old, err := c.AccessToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.fake.FailNext("message/custom/send", 40001, 1)
	if err := c.SendText(ctx, "oA", "hi"); err != nil {
		t.Fatalf("SendText after one 40001: %v", err)
	}
	sends := e.fake.Calls("message/custom/send")
	if len(sends) != 2 || sends[0].Errcode != 40001 || sends[1].Errcode != 0 {
		t.Fatalf("custom/send calls = %+v", sends)
	}
	if sends[0].Query.Get("access_token") != old || sends[1].Query.Get("access_token") == old {
		t.Error("the retry did not use a new token")
	}
	// The stable-token API returns the same token in normal mode, so the
	// client has to force the refresh to get a different one.
	fetches := e.fake.Calls("stable_token")
	if len(fetches) != 3 || fetches[1].JSON["force_refresh"] != false || fetches[2].JSON["force_refresh"] != true {
		t.Errorf("token fetches = %d, want initial + normal + forced", len(fetches))
	}
	cached, _ := store.NewRedisTokens(e.rdb, e.prefix).Token(ctx, wxtest.FakeAppID)
	if cached != sends[1].Query.Get("access_token") {
		t.Error("the new token was not cached")
	}
	if strings.Contains(e.logs.String(), "call failed") {
		t.Errorf("a recovered call was logged as failed: %s", e.logs)
	}
}

func TestExpiredTokensRecover(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client(t)
	if err := c.SendText(ctx, "oA", "hi"); err != nil {
		t.Fatal(err)
	}
	e.fake.ExpireTokens()
	if err := c.SendText(ctx, "oA", "hi"); err != nil {
		t.Fatalf("SendText after ExpireTokens: %v", err)
	}
	sends := e.fake.Calls("message/custom/send")
	if len(sends) != 3 || sends[1].Errcode != 42001 || sends[2].Errcode != 0 {
		t.Fatalf("custom/send calls = %+v", sends)
	}
	if n := e.fake.TokenFetches(); n != 2 {
		t.Errorf("token fetches = %d, want 2", n)
	}
	// Other processes pick up the new token from the cache.
	if err := e.client(t).SendText(ctx, "oA", "hi"); err != nil || e.fake.TokenFetches() != 2 {
		t.Errorf("second client: %v, fetches %d", err, e.fake.TokenFetches())
	}
}

func TestBadToken(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client(t)
	e.fake.FailNext("message/custom/send", 40001, 2)
	err := c.SendText(ctx, "oA", "hi")
	var we *wxapi.Error
	if wxapi.KindOf(err) != wxapi.KindBadToken || !errors.As(err, &we) || we.Code != 40001 {
		t.Errorf("40001 twice: %v (kind %v)", err, wxapi.KindOf(err))
	}
	if n := len(e.fake.Calls("message/custom/send")); n != 2 {
		t.Errorf("custom/send calls = %d, want 2 (one retry only)", n)
	}

	wrong := e.client(t, func(c *wxapi.Config) { c.AppSecret = "wrong" })
	e.rdb.Del(ctx, e.prefix+"wx:token:"+wxtest.FakeAppID)
	err = wrong.SendText(ctx, "oA", "hi")
	if !errors.As(err, &we) || we.Code != 40125 || wxapi.KindOf(err) != wxapi.KindBadToken {
		t.Errorf("wrong secret: %v (kind %v)", err, wxapi.KindOf(err))
	}
}

func TestErrorKinds(t *testing.T) {
	const openID, text = "oSecretMember", "我的电话13800000000"
	cases := []struct {
		name   string
		inject func(f *wxtest.FakeAPI)
		want   wxapi.Kind
		logged string // what the failure line must say besides api=
	}{
		{"45015", func(f *wxtest.FakeAPI) { f.FailNext("message/custom/send", 45015, 1) }, wxapi.KindOutsideWindow, "errcode=45015"},
		{"45047", func(f *wxtest.FakeAPI) { f.FailNext("message/custom/send", 45047, 1) }, wxapi.KindOutsideWindow, "errcode=45047"},
		{"43004", func(f *wxtest.FakeAPI) { f.FailNext("message/custom/send", 43004, 1) }, wxapi.KindUnsubscribed, "errcode=43004"},
		{"45009", func(f *wxtest.FakeAPI) { f.FailNext("message/custom/send", 45009, 1) }, wxapi.KindRetryLater, "errcode=45009"},
		{"45011", func(f *wxtest.FakeAPI) { f.FailNext("message/custom/send", 45011, 1) }, wxapi.KindRetryLater, "errcode=45011"},
		{"-1", func(f *wxtest.FakeAPI) { f.FailNext("message/custom/send", -1, 1) }, wxapi.KindRetryLater, "errcode=-1"},
		{"40164", func(f *wxtest.FakeAPI) { f.FailNext("message/custom/send", 40164, 1) }, wxapi.KindBadToken, "errcode=40164"},
		{"40003", func(f *wxtest.FakeAPI) { f.FailNext("message/custom/send", 40003, 1) }, wxapi.KindPermanent, "errcode=40003"},
		{"5xx", func(f *wxtest.FakeAPI) { f.Status5xx("message/custom/send", 1) }, wxapi.KindRetryLater, "http_status=502"},
		{"token 5xx", func(f *wxtest.FakeAPI) { f.Status5xx("stable_token", 1) }, wxapi.KindRetryLater, "http_status=502"},
		{"timeout", func(f *wxtest.FakeAPI) { f.Delay("message/custom/send", 3*time.Second) }, wxapi.KindRetryLater, "Client.Timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			c := e.client(t, func(c *wxapi.Config) { c.HTTPClient = &http.Client{Timeout: 300 * time.Millisecond} })
			tc.inject(e.fake)
			err := c.SendText(context.Background(), openID, text)
			if got := wxapi.KindOf(err); got != tc.want {
				t.Fatalf("KindOf(%v) = %v, want %v", err, got, tc.want)
			}
			logs := e.logs.String()
			if n := strings.Count(logs, "wechat api call failed"); n != 1 {
				t.Errorf("%d failure lines, want 1:\n%s", n, logs)
			}
			if !strings.Contains(logs, "api=message/custom/send") || !strings.Contains(logs, tc.logged) {
				t.Errorf("log lacks api or errcode: %s", logs)
			}
			for _, secret := range []string{openID, text, "13800000000", "access_token", "FAKE_TOKEN", wxtest.FakeSecret} {
				if strings.Contains(logs, secret) || strings.Contains(err.Error(), secret) {
					t.Errorf("%q leaked into the log or error: %s / %v", secret, logs, err)
				}
			}
		})
	}
}

func TestKindOf(t *testing.T) {
	for code, want := range map[int]wxapi.Kind{
		-1: wxapi.KindRetryLater, 45009: wxapi.KindRetryLater, 45011: wxapi.KindRetryLater,
		45015: wxapi.KindOutsideWindow, 45047: wxapi.KindOutsideWindow, 43004: wxapi.KindUnsubscribed,
		40001: wxapi.KindBadToken, 40014: wxapi.KindBadToken, 42001: wxapi.KindBadToken,
		40125: wxapi.KindBadToken, 40164: wxapi.KindBadToken, 40003: wxapi.KindPermanent, 48001: wxapi.KindPermanent,
	} {
		if got := wxapi.KindOf(&wxapi.Error{API: "x", Code: code}); got != want {
			t.Errorf("KindOf(%d) = %v, want %v", code, got, want)
		}
	}
	if wxapi.KindOf(nil) != wxapi.KindNone || wxapi.KindOf(errors.New("x")) != wxapi.KindPermanent {
		t.Error("KindOf(nil) or of a plain error is wrong")
	}
	if wxapi.KindOf(&wxapi.Error{Status: 503}) != wxapi.KindRetryLater || wxapi.KindOf(&wxapi.Error{Status: 404}) != wxapi.KindPermanent {
		t.Error("HTTP status kinds are wrong")
	}
}

func TestTagMembersBatches(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.client(t)
	id, err := c.CreateTag(ctx, "batch")
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 120)
	for i := range ids {
		ids[i] = "oMember" + jsonInt(int64(i))
	}
	if err := c.TagMembers(ctx, id, ids); err != nil {
		t.Fatal(err)
	}
	calls := e.fake.Calls("tags/members/batchtagging")
	if len(calls) != 3 {
		t.Fatalf("batchtagging calls = %d, want 3", len(calls))
	}
	for i, want := range []int{50, 50, 20} {
		if got := len(calls[i].JSON["openid_list"].([]any)); got != want {
			t.Errorf("batch %d has %d openids, want %d", i, got, want)
		}
	}
	tags, _ := c.Tags(ctx)
	if !containsTag(tags, wxapi.Tag{ID: id, Name: "batch", Count: 120}) {
		t.Errorf("Tags = %+v", tags)
	}

	// A failing batch stops the run and says how far it got.
	e.fake.FailNext("tags/members/batchuntagging", 45009, 1)
	err = c.UntagMembers(ctx, id, ids)
	if wxapi.KindOf(err) != wxapi.KindRetryLater || !strings.Contains(err.Error(), "0 of 120") {
		t.Errorf("failed untagging: %v", err)
	}
	if n := len(e.fake.Calls("tags/members/batchuntagging")); n != 1 {
		t.Errorf("batchuntagging calls after a failure = %d, want 1", n)
	}
}

func TestSendMediaPayloads(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	ctx := context.Background()
	for kind, want := range map[string]string{
		wxapi.MediaImage: `{"touser":"oDirector","msgtype":"image","image":{"media_id":"MEDIA_1"}}`,
		wxapi.MediaVoice: `{"touser":"oDirector","msgtype":"voice","voice":{"media_id":"MEDIA_1"}}`,
		wxapi.MediaVideo: `{"touser":"oDirector","msgtype":"video","video":{"media_id":"MEDIA_1","thumb_media_id":"","title":"","description":""}}`,
	} {
		if err := c.SendMedia(ctx, "oDirector", kind, "MEDIA_1"); err != nil {
			t.Fatalf("SendMedia %s: %v", kind, err)
		}
		jsonEq(t, "custom/send "+kind, lastCall(t, e.fake, "message/custom/send").Body, want)
	}
	before := len(e.fake.Calls("message/custom/send"))
	for _, bad := range [][3]string{{"oDirector", "file", "MEDIA_1"}, {"oDirector", "image", ""}, {"", "image", "MEDIA_1"}} {
		if err := c.SendMedia(ctx, bad[0], bad[1], bad[2]); wxapi.KindOf(err) != wxapi.KindPermanent {
			t.Errorf("SendMedia%q = %v, want a permanent error", bad, err)
		}
	}
	if n := len(e.fake.Calls("message/custom/send")); n != before {
		t.Errorf("invalid SendMedia calls reached WeChat: %d", n-before)
	}
}

func TestGetMedia(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	ctx := context.Background()
	photo := []byte("\xff\xd8\xff\xe0 a member's photo")
	e.fake.PutMedia("PHOTO_1", "image/jpeg", photo)

	data, ct, err := c.GetMedia(ctx, "PHOTO_1")
	if err != nil || ct != "image/jpeg" || string(data) != string(photo) {
		t.Fatalf("GetMedia = %q, %q, %v", data, ct, err)
	}
	if call := lastCall(t, e.fake, "media/get"); call.Query.Get("media_id") != "PHOTO_1" || call.Query.Get("access_token") == "" {
		t.Errorf("media/get query = %v", call.Query)
	}

	// WeChat rotated the token: one retry with a fresh one.
	e.fake.ExpireTokens()
	if data, _, err := c.GetMedia(ctx, "PHOTO_1"); err != nil || string(data) != string(photo) {
		t.Fatalf("GetMedia after ExpireTokens = %q, %v", data, err)
	}
	if gets := e.fake.Calls("media/get"); len(gets) != 3 || gets[1].Errcode != 42001 {
		t.Errorf("media/get calls = %+v", gets)
	}
	if strings.Contains(e.logs.String(), "call failed") {
		t.Errorf("a recovered call was logged as failed: %s", e.logs)
	}
}

func TestGetMediaVideoFollowsVideoURL(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	video := []byte("\x00\x00\x00\x18ftypmp42 a video")
	e.fake.PutMedia("VIDEO_1", "video/mp4", video)

	data, ct, err := c.GetMedia(context.Background(), "VIDEO_1")
	if err != nil || ct != "video/mp4" || string(data) != string(video) {
		t.Fatalf("GetMedia(video) = %q, %q, %v", data, ct, err)
	}
	dl := e.fake.Calls(wxtest.VideoPath)
	if len(dl) != 1 || dl[0].Query.Get("media_id") != "VIDEO_1" || dl[0].Query.Has("access_token") {
		t.Errorf("video downloads = %+v", dl)
	}

	// A failed download is one failure with the download's status.
	e.fake.Status5xx(wxtest.VideoPath, 1)
	if _, _, err := c.GetMedia(context.Background(), "VIDEO_1"); wxapi.KindOf(err) != wxapi.KindRetryLater {
		t.Errorf("GetMedia with the video host down = %v (kind %v)", err, wxapi.KindOf(err))
	}
	if n := strings.Count(e.logs.String(), "wechat api call failed"); n != 1 {
		t.Errorf("%d failure lines, want 1:\n%s", n, e.logs)
	}
}

func TestGetMediaErrors(t *testing.T) {
	cases := []struct {
		name    string
		prepare func(f *wxtest.FakeAPI)
		want    wxapi.Kind
		errcode int
	}{
		{"unknown media id", func(f *wxtest.FakeAPI) {}, wxapi.KindPermanent, 40007},
		{"system error", func(f *wxtest.FakeAPI) { f.FailNext("media/get", -1, 1) }, wxapi.KindRetryLater, -1},
		{"5xx", func(f *wxtest.FakeAPI) { f.Status5xx("media/get", 1) }, wxapi.KindRetryLater, 0},
		{"timeout", func(f *wxtest.FakeAPI) { f.Delay("media/get", 3*time.Second) }, wxapi.KindRetryLater, 0},
		{"too large", func(f *wxtest.FakeAPI) {
			f.PutMedia("MEDIA_X", "image/jpeg", make([]byte, wxapi.MaxMediaSize+1))
		}, wxapi.KindPermanent, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			c := e.client(t, func(c *wxapi.Config) { c.HTTPClient = &http.Client{Timeout: 300 * time.Millisecond} })
			tc.prepare(e.fake)
			data, _, err := c.GetMedia(context.Background(), "MEDIA_X")
			if got := wxapi.KindOf(err); got != tc.want || data != nil {
				t.Fatalf("GetMedia = %d bytes, %v (kind %v), want kind %v", len(data), err, got, tc.want)
			}
			var we *wxapi.Error
			if tc.errcode != 0 && (!errors.As(err, &we) || we.Code != tc.errcode) {
				t.Errorf("err = %v, want errcode %d", err, tc.errcode)
			}
			if tc.name == "too large" && !errors.Is(err, wxapi.ErrTooLarge) {
				t.Errorf("err = %v, want ErrTooLarge", err)
			}
			logs := e.logs.String()
			if n := strings.Count(logs, "wechat api call failed"); n != 1 || !strings.Contains(logs, "api=media/get") {
				t.Errorf("%d failure lines, want 1 for media/get:\n%s", n, logs)
			}
			for _, secret := range []string{"access_token", "FAKE_TOKEN", wxtest.FakeSecret} {
				if strings.Contains(logs, secret) || strings.Contains(err.Error(), secret) {
					t.Errorf("%q leaked into the log or error: %s / %v", secret, logs, err)
				}
			}
		})
	}
}

func TestUploadMedia(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	ctx := context.Background()
	voice := []byte("#!AMR\n a voice message")
	// The first attempt meets a rotated token: the retry sends the whole
	// form again.
	e.fake.FailNext("media/upload", 40001, 1)
	id, err := c.UploadMedia(ctx, wxapi.MediaVoice, "evidence.amr", voice)
	if err != nil || id == "" {
		t.Fatalf("UploadMedia = %q, %v", id, err)
	}
	ups := e.fake.Calls("media/upload")
	if len(ups) != 2 || ups[1].Query.Get("type") != "voice" || !strings.HasPrefix(ups[1].ContentType, "multipart/form-data") {
		t.Fatalf("media/upload calls = %+v", ups)
	}
	if ct, data, ok := e.fake.Media(id); !ok || ct != "audio/amr" || string(data) != string(voice) {
		t.Errorf("the fake holds %q %q %v", ct, data, ok)
	}
	got, ct, err := c.GetMedia(ctx, id)
	if err != nil || ct != "audio/amr" || string(got) != string(voice) {
		t.Errorf("GetMedia(uploaded) = %q %q %v", got, ct, err)
	}
	if err := c.SendMedia(ctx, "oDirector", wxapi.MediaVoice, id); err != nil {
		t.Errorf("SendMedia(uploaded): %v", err)
	}

	before := len(e.fake.Calls("media/upload"))
	for _, bad := range []struct {
		kind, name string
		data       []byte
	}{{"file", "a.pdf", voice}, {"voice", "", voice}, {"voice", "a.amr", nil}, {"image", "a.jpg", make([]byte, wxapi.MaxMediaSize+1)}} {
		if _, err := c.UploadMedia(ctx, bad.kind, bad.name, bad.data); wxapi.KindOf(err) != wxapi.KindPermanent {
			t.Errorf("UploadMedia(%q, %q, %d bytes) = %v", bad.kind, bad.name, len(bad.data), err)
		}
	}
	if n := len(e.fake.Calls("media/upload")); n != before {
		t.Errorf("invalid uploads reached WeChat: %d", n-before)
	}
}

// Uncertain is what the outbox's at-most-once rows rely on: only a call
// that may have reached WeChat without a definite answer is uncertain.
func TestUncertain(t *testing.T) {
	cases := []struct {
		name   string
		inject func(f *wxtest.FakeAPI)
		want   bool
	}{
		{"sent", func(f *wxtest.FakeAPI) {}, false},
		{"timeout", func(f *wxtest.FakeAPI) { f.Delay("message/custom/send", 3*time.Second) }, true},
		{"5xx", func(f *wxtest.FakeAPI) { f.Status5xx("message/custom/send", 1) }, true},
		{"errcode -1", func(f *wxtest.FakeAPI) { f.FailNext("message/custom/send", -1, 1) }, false},
		{"45009", func(f *wxtest.FakeAPI) { f.FailNext("message/custom/send", 45009, 1) }, false},
		{"40001 twice", func(f *wxtest.FakeAPI) { f.FailNext("message/custom/send", 40001, 2) }, false},
		{"token 5xx", func(f *wxtest.FakeAPI) { f.Status5xx("stable_token", 1) }, false},
		{"token timeout", func(f *wxtest.FakeAPI) { f.Delay("stable_token", 3*time.Second) }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			c := e.client(t, func(c *wxapi.Config) { c.HTTPClient = &http.Client{Timeout: 300 * time.Millisecond} })
			tc.inject(e.fake)
			err := c.SendText(context.Background(), "oA", "hi")
			if got := wxapi.Uncertain(err); got != tc.want {
				t.Errorf("Uncertain(%v) = %v, want %v", err, got, tc.want)
			}
		})
	}

	t.Run("nothing listens", func(t *testing.T) {
		e := newEnv(t)
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close() // its port refuses connections now
		c := e.client(t, func(c *wxapi.Config) { c.BaseURL = srv.URL })
		e.rdb.Set(context.Background(), e.prefix+"wx:token:"+wxtest.FakeAppID, "CACHED", time.Minute)
		err := c.SendText(context.Background(), "oA", "hi")
		if err == nil || wxapi.Uncertain(err) || wxapi.KindOf(err) != wxapi.KindRetryLater {
			t.Errorf("refused connection: %v, Uncertain %v, kind %v", err, wxapi.Uncertain(err), wxapi.KindOf(err))
		}
	})
}
