package wxtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Default credentials of a new FakeAPI. They are constants, so tests and
// the local demo agree on them without sharing mutable state.
const (
	FakeAppID  = "wxfake0000000000a"
	FakeSecret = "fake-app-secret"
)

// tokenLife is what WeChat gives a token (expires_in).
const tokenLife = 7200 * time.Second

// Call is one request the fake received.
type Call struct {
	Path  string
	Query url.Values
	Body  []byte
	// ContentType is the request's; an upload's Body is multipart.
	ContentType string
	JSON        map[string]any // Body decoded, when it is a JSON object
	At          time.Time
	Status      int // HTTP status the fake answered
	Errcode     int // errcode in the answer; 0 on success
}

// FakeAPI imitates api.weixin.qq.com for the endpoints nuanjia uses: it
// issues and checks access tokens, validates payloads the way WeChat does
// where that matters (list sizes, tag ids), records every call, and lets a
// test inject errcodes, HTTP 5xx, delays and token expiry. It is an
// http.Handler and safe for concurrent use.
type FakeAPI struct {
	mu sync.Mutex

	appID, secret string

	calls        []Call
	tokenFetches int
	tokens       map[string]time.Time // every token issued → when it stops working
	current      string               // what stable_token returns in normal mode
	seq          int64                // ids for tokens, messages and tags

	fail   map[string][]injected
	delay  map[string]time.Duration
	late   map[string]time.Duration
	status map[string]int

	tags  map[int64]*fakeTag
	menu  json.RawMessage
	media map[string]fakeMedia // what media/get serves, by media id

	massSends []MassSend
	clientIDs map[string]MassSend // by clientmsgid: the job WeChat took for it
	previews  []Preview
}

// MassSend is a mass-send job the fake took (sendall or send): a repeated
// clientmsgid answered with 45065 makes none.
type MassSend struct {
	MsgID       int64
	ClientMsgID string
	ToAll       bool
	TagID       int64
	// Recipients are the tag's followers when the job was taken (sorted),
	// or the openid list; nil for every follower.
	Recipients []string
	Text       string
	At         time.Time
}

// Preview is one message/mass/preview the fake took.
type Preview struct {
	ToUser, ToWxName, Text string
	At                     time.Time
}

// clientMsgIDLife is how long WeChat remembers a clientmsgid.
const clientMsgIDLife = 24 * time.Hour

type injected struct{ code, left int }

type fakeMedia struct {
	contentType string
	data        []byte
}

// isVideo: media/get answers a video with a video_url to download it from,
// as WeChat does, instead of the bytes.
func (m fakeMedia) isVideo() bool { return strings.HasPrefix(m.contentType, "video/") }

type fakeTag struct {
	name    string
	members map[string]bool
}

// NewFakeAPI returns an empty fake that accepts FakeAppID and FakeSecret.
func NewFakeAPI() *FakeAPI {
	f := &FakeAPI{}
	f.SetCredentials(FakeAppID, FakeSecret)
	f.Reset()
	return f
}

// SetCredentials changes the appid and secret the token endpoints accept.
func (f *FakeAPI) SetCredentials(appID, secret string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.appID, f.secret = appID, secret
}

// Reset forgets calls, tokens, injections, tags, the menu and media; the
// credentials stay.
func (f *FakeAPI) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
	f.tokenFetches = 0
	f.tokens = map[string]time.Time{}
	f.current = ""
	f.fail = map[string][]injected{}
	f.delay = map[string]time.Duration{}
	f.late = map[string]time.Duration{}
	f.status = map[string]int{}
	f.tags = map[int64]*fakeTag{}
	f.menu = nil
	f.media = map[string]fakeMedia{}
	f.massSends = nil
	f.clientIDs = map[string]MassSend{}
	f.previews = nil
}

// MassSends returns the mass-send jobs taken so far, in order.
func (f *FakeAPI) MassSends() []MassSend {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]MassSend, len(f.massSends))
	for i, m := range f.massSends {
		m.Recipients = append([]string(nil), m.Recipients...)
		out[i] = m
	}
	return out
}

// Previews returns the previews sent so far, in order.
func (f *FakeAPI) Previews() []Preview {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Preview(nil), f.previews...)
}

// TagMembers returns the followers WeChat holds the tag for, sorted.
func (f *FakeAPI) TagMembers(tagID int64) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tagMembers(tagID)
}

func (f *FakeAPI) tagMembers(tagID int64) []string {
	t, ok := f.tags[tagID]
	if !ok {
		return nil
	}
	out := make([]string, 0, len(t.members))
	for id := range t.members {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// PutMedia makes media/get serve data as the temporary medium id, as if a
// member had pushed it. A contentType of video/… is served the way WeChat
// serves videos: media/get answers {"video_url": …} pointing at this fake's
// VideoPath, which has the bytes.
func (f *FakeAPI) PutMedia(id, contentType string, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.media[id] = fakeMedia{contentType: contentType, data: append([]byte(nil), data...)}
}

// Media returns the medium id as media/get would serve it (a PutMedia or a
// media/upload); ok is false when there is none.
func (f *FakeAPI) Media(id string) (contentType string, data []byte, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.media[id]
	return m.contentType, append([]byte(nil), m.data...), ok
}

// Calls returns copies of the calls to path ("/cgi-bin/…" or the short
// "message/custom/send" form), in arrival order; "" returns all calls.
func (f *FakeAPI) Calls(path string) []Call {
	path = normPath(path)
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Call
	for _, c := range f.calls {
		if path == "" || c.Path == path {
			out = append(out, c)
		}
	}
	return out
}

// TokenFetches counts requests to /cgi-bin/stable_token and /cgi-bin/token.
func (f *FakeAPI) TokenFetches() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenFetches
}

// FailNext makes the next `times` calls to path answer with errcode.
// Injections queue up in the order they were made.
func (f *FakeAPI) FailNext(path string, errcode, times int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := normPath(path)
	f.fail[p] = append(f.fail[p], injected{code: errcode, left: times})
}

// Delay makes every later call to path wait d before it is answered (0
// turns it off). The wait ends early if the client goes away, so a test
// server can always shut down.
func (f *FakeAPI) Delay(path string, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delay[normPath(path)] = d
}

// AnswerLate makes every later call to path be carried out at once but
// answered only after d (0 turns it off): a client that gives up first
// never learns that WeChat did what it asked.
func (f *FakeAPI) AnswerLate(path string, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.late[normPath(path)] = d
}

// Status5xx makes the next `times` calls to path fail with HTTP 502 and a
// non-JSON body, as WeChat's gateway does when it is overloaded.
func (f *FakeAPI) Status5xx(path string, times int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status[normPath(path)] += times
}

// ExpireTokens makes every token issued so far fail with 42001, and makes
// the stable-token endpoint issue a new one.
func (f *FakeAPI) ExpireTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	past := time.Now().Add(-time.Second)
	for t := range f.tokens {
		f.tokens[t] = past
	}
	f.current = ""
}

// ServeHTTP answers one API call.
func (f *FakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_fake/calls" {
		f.serveCalls(w, r)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
	call := Call{Path: r.URL.Path, Query: r.URL.Query(), Body: body, ContentType: r.Header.Get("Content-Type"), At: time.Now()}
	if len(body) > 0 {
		var m map[string]any
		if json.Unmarshal(body, &m) == nil {
			call.JSON = m
		}
	}

	f.mu.Lock()
	idx := len(f.calls)
	f.calls = append(f.calls, call)
	if call.Path == "/cgi-bin/stable_token" || call.Path == "/cgi-bin/token" {
		f.tokenFetches++
	}
	d := f.delay[call.Path]
	f.mu.Unlock()

	if d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			f.finish(idx, 0, -1)
			return
		}
	}

	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	f.mu.Lock()
	rep := f.answer(call, scheme+"://"+r.Host)
	late := f.late[call.Path]
	f.mu.Unlock()

	if late > 0 {
		t := time.NewTimer(late)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			f.finish(idx, 0, -1)
			return
		}
	}

	switch {
	case rep.status != http.StatusOK:
		f.finish(idx, rep.status, 0)
		http.Error(w, fmt.Sprintf("<html><body>%d %s</body></html>", rep.status, http.StatusText(rep.status)), rep.status)
	case rep.media != nil:
		f.finish(idx, rep.status, 0)
		w.Header().Set("Content-Type", rep.media.contentType)
		w.Header().Set("Content-Disposition", `attachment; filename="media"`)
		w.Header().Set("Content-Length", strconv.Itoa(len(rep.media.data)))
		_, _ = w.Write(rep.media.data)
	default:
		code, _ := rep.json["errcode"].(int)
		f.finish(idx, rep.status, code)
		// WeChat sends media/get's errors as text/plain; a client must
		// recognise them by more than application/json.
		ct := "application/json; encoding=utf-8"
		if call.Path == mediaGetPath && code != 0 {
			ct = "text/plain"
		}
		w.Header().Set("Content-Type", ct)
		_ = json.NewEncoder(w).Encode(rep.json)
	}
}

// maxBody bounds what the fake reads of a request: an upload of the
// largest medium WeChat takes fits.
const maxBody = 32 << 20

// Paths of the media endpoints. VideoPath is the fake's stand-in for the
// host WeChat's video_url points at; it needs no access token.
const (
	mediaGetPath    = "/cgi-bin/media/get"
	mediaUploadPath = "/cgi-bin/media/upload"
	VideoPath       = "/_fake/video"
)

// reply is the fake's answer to one call: a status other than 200, media
// bytes, or a JSON object.
type reply struct {
	status int
	media  *fakeMedia
	json   obj
}

func jsonReply(o obj) reply { return reply{status: http.StatusOK, json: o} }

func (f *FakeAPI) finish(idx, status, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if idx < len(f.calls) { // Reset may have run meanwhile
		f.calls[idx].Status, f.calls[idx].Errcode = status, code
	}
}

type obj = map[string]any

func errc(code int, msg string) obj { return obj{"errcode": code, "errmsg": msg} }

func okResp() obj { return obj{"errcode": 0, "errmsg": "ok"} }

// answer decides the response; f.mu is held. base is the fake's own
// address, for the video_url of a video.
func (f *FakeAPI) answer(c Call, base string) reply {
	if f.status[c.Path] > 0 {
		f.status[c.Path]--
		return reply{status: http.StatusBadGateway}
	}
	if q := f.fail[c.Path]; len(q) > 0 {
		code := q[0].code
		if q[0].left--; q[0].left <= 0 {
			f.fail[c.Path] = q[1:]
		}
		return jsonReply(errc(code, "injected by wxtest.FakeAPI"))
	}
	switch c.Path {
	case "/cgi-bin/stable_token":
		return jsonReply(f.stableToken(c))
	case "/cgi-bin/token":
		return jsonReply(f.plainToken(c))
	case VideoPath:
		// WeChat's video host takes no token: the address is the secret.
		m, ok := f.media[c.Query.Get("media_id")]
		if !ok || !m.isVideo() {
			return reply{status: http.StatusNotFound}
		}
		return reply{status: http.StatusOK, media: &m}
	}
	if resp := f.checkToken(c.Query.Get("access_token")); resp != nil {
		return jsonReply(resp)
	}
	if c.Path == mediaGetPath {
		id := c.Query.Get("media_id")
		m, ok := f.media[id]
		switch {
		case !ok:
			return jsonReply(errc(40007, "invalid media_id"))
		case m.isVideo():
			return jsonReply(obj{"video_url": base + VideoPath + "?" + url.Values{"media_id": {id}}.Encode()})
		}
		return reply{status: http.StatusOK, media: &m}
	}
	return jsonReply(f.api(c))
}

// api answers the calls that carry a valid token with JSON; f.mu is held.
func (f *FakeAPI) api(c Call) obj {
	switch c.Path {
	case "/cgi-bin/message/custom/send":
		if str(c.JSON, "touser") == "" {
			return errc(40003, "invalid openid")
		}
		switch t := str(c.JSON, "msgtype"); t {
		case "":
			return errc(40008, "invalid message type")
		case "image", "voice", "video":
			// Any media id will do: a member's pushed media ids are valid
			// for customer-service messages without a PutMedia.
			m, _ := c.JSON[t].(map[string]any)
			if str(m, "media_id") == "" {
				return errc(40007, "invalid media_id")
			}
		}
		return okResp()
	case mediaUploadPath:
		return f.uploadMedia(c)
	case "/cgi-bin/message/template/send":
		if str(c.JSON, "touser") == "" {
			return errc(40003, "invalid openid")
		}
		if str(c.JSON, "template_id") == "" {
			return errc(40037, "invalid template_id")
		}
		f.seq++
		return obj{"errcode": 0, "errmsg": "ok", "msgid": f.seq}
	case "/cgi-bin/message/mass/sendall":
		filter, ok := c.JSON["filter"].(map[string]any)
		if !ok {
			return errc(47001, "data format error")
		}
		job := MassSend{}
		job.ToAll, _ = filter["is_to_all"].(bool)
		if !job.ToAll {
			num, _ := filter["tag_id"].(float64)
			job.TagID = int64(num)
			job.Recipients = f.tagMembers(job.TagID)
			if job.Recipients == nil {
				job.Recipients = []string{}
			}
		}
		return f.massSend(c, job)
	case "/cgi-bin/message/mass/send":
		to := list(c.JSON, "touser")
		if n := len(to); n < 2 || n > 10000 {
			return errc(40130, "invalid openid list size, at least two openid")
		}
		return f.massSend(c, MassSend{Recipients: to})
	case "/cgi-bin/message/mass/preview":
		p := Preview{ToUser: str(c.JSON, "touser"), ToWxName: str(c.JSON, "towxname"), At: c.At}
		if p.ToUser == "" && p.ToWxName == "" {
			return errc(40003, "invalid openid")
		}
		if str(c.JSON, "msgtype") == "" {
			return errc(40008, "invalid message type")
		}
		text, _ := c.JSON["text"].(map[string]any)
		p.Text = str(text, "content")
		f.previews = append(f.previews, p)
		return okResp()
	case "/cgi-bin/tags/create":
		return f.createTag(c)
	case "/cgi-bin/tags/get":
		return f.listTags()
	case "/cgi-bin/tags/members/batchtagging", "/cgi-bin/tags/members/batchuntagging":
		return f.tagging(c, c.Path == "/cgi-bin/tags/members/batchtagging")
	case "/cgi-bin/menu/create":
		b, ok := c.JSON["button"].([]any)
		if !ok || len(b) == 0 || len(b) > 3 {
			return errc(40016, "invalid button size")
		}
		f.menu, _ = json.Marshal(b)
		return okResp()
	case "/cgi-bin/menu/get":
		if f.menu == nil {
			return errc(46003, "menu no exist")
		}
		return obj{"menu": obj{"button": f.menu}}
	case "/cgi-bin/menu/delete":
		f.menu = nil
		return okResp()
	}
	return errc(48001, "api unauthorized (not faked: "+c.Path+")")
}

// massSend takes a mass-send job as WeChat does: a text, and a clientmsgid
// seen in the last 24 hours makes no second job but answers 45065 with
// the first job's msg_id. f.mu is held.
func (f *FakeAPI) massSend(c Call, job MassSend) obj {
	if str(c.JSON, "msgtype") != "text" {
		return errc(40008, "invalid message type")
	}
	text, _ := c.JSON["text"].(map[string]any)
	if job.Text = str(text, "content"); job.Text == "" {
		return errc(44003, "empty content")
	}
	job.ClientMsgID = str(c.JSON, "clientmsgid")
	if len(job.ClientMsgID) > 64 {
		return errc(45067, "clientmsgid size out of limit")
	}
	if first, ok := f.clientIDs[job.ClientMsgID]; ok && job.ClientMsgID != "" && c.At.Sub(first.At) < clientMsgIDLife {
		return obj{"errcode": 45065, "errmsg": "clientmsgid exist", "msg_id": first.MsgID}
	}
	f.seq++
	job.MsgID, job.At = f.seq, c.At
	f.massSends = append(f.massSends, job)
	if job.ClientMsgID != "" {
		f.clientIDs[job.ClientMsgID] = job
	}
	return obj{"errcode": 0, "errmsg": "send job submission success", "msg_id": f.seq}
}

// uploadType is the content type media/get serves an upload with: by the
// file name's extension, as WeChat goes by it, or else by the upload's
// type. A table of our own: mime.TypeByExtension's answers depend on the
// machine.
func uploadType(filename, kind string) string {
	switch strings.ToLower(path.Ext(filename)) {
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".png":
		return "image/png"
	case ".amr":
		return "audio/amr"
	case ".mp3":
		return "audio/mpeg"
	case ".mp4":
		return "video/mp4"
	}
	switch kind {
	case "voice":
		return "audio/amr"
	case "video":
		return "video/mp4"
	}
	return "image/jpeg"
}

// uploadMedia takes a multipart upload's field "media" as a new temporary
// medium, served by media/get from then on.
func (f *FakeAPI) uploadMedia(c Call) obj {
	kind := c.Query.Get("type")
	if kind != "image" && kind != "voice" && kind != "video" && kind != "thumb" {
		return errc(40004, "invalid media type")
	}
	_, params, err := mime.ParseMediaType(c.ContentType)
	if err != nil || params["boundary"] == "" {
		return errc(41005, "media data missing")
	}
	form, err := multipart.NewReader(bytes.NewReader(c.Body), params["boundary"]).ReadForm(maxBody)
	if err != nil {
		return errc(41005, "media data missing")
	}
	defer form.RemoveAll()
	files := form.File["media"]
	if len(files) == 0 {
		return errc(41005, "media data missing")
	}
	fh, err := files[0].Open()
	if err != nil {
		return errc(41005, "media data missing")
	}
	data, err := io.ReadAll(fh)
	fh.Close()
	if err != nil || len(data) == 0 {
		return errc(41005, "media data missing")
	}
	ct := uploadType(files[0].Filename, kind)
	f.seq++
	id := "FAKE_MEDIA_" + strconv.FormatInt(f.seq, 10)
	f.media[id] = fakeMedia{contentType: ct, data: data}
	return obj{"type": kind, "media_id": id, "created_at": time.Now().Unix()}
}

// stableToken follows WeChat's stable-token rules: in normal mode the same
// token comes back while it is valid, so processes do not invalidate each
// other; force_refresh issues a new one and retires the old one.
func (f *FakeAPI) stableToken(c Call) obj {
	if str(c.JSON, "grant_type") != "client_credential" {
		return errc(40002, "invalid grant_type")
	}
	if str(c.JSON, "appid") != f.appID {
		return errc(40013, "invalid appid")
	}
	if str(c.JSON, "secret") != f.secret {
		return errc(40125, "invalid appsecret")
	}
	force, _ := c.JSON["force_refresh"].(bool)
	now := time.Now()
	if exp, ok := f.tokens[f.current]; ok && !force && now.Before(exp) {
		return obj{"access_token": f.current, "expires_in": int(exp.Sub(now) / time.Second)}
	}
	if force && f.current != "" {
		delete(f.tokens, f.current)
	}
	f.current = f.issue(now)
	return obj{"access_token": f.current, "expires_in": int(tokenLife / time.Second)}
}

// plainToken is the old /cgi-bin/token: every call issues a new token, and
// the previous one keeps working for five minutes only.
func (f *FakeAPI) plainToken(c Call) obj {
	q := c.Query
	if q.Get("grant_type") != "client_credential" {
		return errc(40002, "invalid grant_type")
	}
	if q.Get("appid") != f.appID {
		return errc(40013, "invalid appid")
	}
	if q.Get("secret") != f.secret {
		return errc(40125, "invalid appsecret")
	}
	now := time.Now()
	if exp, ok := f.tokens[f.current]; ok && exp.After(now.Add(5*time.Minute)) {
		f.tokens[f.current] = now.Add(5 * time.Minute)
	}
	f.current = f.issue(now)
	return obj{"access_token": f.current, "expires_in": int(tokenLife / time.Second)}
}

func (f *FakeAPI) issue(now time.Time) string {
	f.seq++
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	t := "FAKE_TOKEN_" + strconv.FormatInt(f.seq, 10) + "_" + hex.EncodeToString(b)
	f.tokens[t] = now.Add(tokenLife)
	return t
}

func (f *FakeAPI) checkToken(t string) obj {
	exp, ok := f.tokens[t]
	switch {
	case t == "":
		return errc(41001, "access_token missing")
	case !ok:
		return errc(40001, "invalid credential, access_token is invalid or not latest")
	case !time.Now().Before(exp):
		return errc(42001, "access_token expired")
	}
	return nil
}

func (f *FakeAPI) createTag(c Call) obj {
	tag, _ := c.JSON["tag"].(map[string]any)
	name := str(tag, "name")
	switch {
	case name == "":
		return errc(47001, "data format error")
	case len(name) > 30:
		return errc(45158, "tag name too long")
	case len(f.tags) >= 100:
		return errc(45056, "too many tags now, no need to add new")
	}
	for _, t := range f.tags {
		if t.name == name {
			return errc(45157, "invalid tag name")
		}
	}
	f.seq++
	id := 100 + f.seq // WeChat's own tags 0..2 are reserved
	f.tags[id] = &fakeTag{name: name, members: map[string]bool{}}
	return obj{"tag": obj{"id": id, "name": name}}
}

func (f *FakeAPI) listTags() obj {
	out := []obj{{"id": 2, "name": "星标组", "count": 0}}
	ids := make([]int64, 0, len(f.tags))
	for id := range f.tags {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		out = append(out, obj{"id": id, "name": f.tags[id].name, "count": len(f.tags[id].members)})
	}
	return obj{"tags": out}
}

func (f *FakeAPI) tagging(c Call, add bool) obj {
	ids := list(c.JSON, "openid_list")
	if len(ids) == 0 || len(ids) > 50 {
		return errc(40032, "invalid openid list size")
	}
	num, _ := c.JSON["tagid"].(float64)
	t, ok := f.tags[int64(num)]
	if !ok {
		return errc(45159, "invalid tag id")
	}
	for _, id := range ids {
		if add {
			t.members[id] = true
		} else {
			delete(t.members, id)
		}
	}
	return okResp()
}

// serveCalls is the debug endpoint: GET /_fake/calls[?path=…] returns the
// recorded calls as JSON, with the app secret masked.
func (f *FakeAPI) serveCalls(w http.ResponseWriter, r *http.Request) {
	type view struct {
		Path    string         `json:"path"`
		Query   url.Values     `json:"query,omitempty"`
		Body    string         `json:"body,omitempty"`
		JSON    map[string]any `json:"json,omitempty"`
		At      time.Time      `json:"at"`
		Status  int            `json:"status"`
		Errcode int            `json:"errcode"`
	}
	calls := f.Calls(r.URL.Query().Get("path"))
	out := make([]view, 0, len(calls))
	for _, c := range calls {
		v := view{Path: c.Path, Query: c.Query, Body: string(c.Body), JSON: c.JSON, At: c.At, Status: c.Status, Errcode: c.Errcode}
		if v.Query.Has("secret") {
			v.Query = cloneValues(v.Query)
			v.Query.Set("secret", "***")
		}
		if _, ok := v.JSON["secret"]; ok {
			v.JSON, v.Body = maskSecret(v.JSON), ""
		}
		if c.JSON == nil && len(c.Body) > 0 {
			v.Body = fmt.Sprintf("(%d bytes of %s)", len(c.Body), c.ContentType) // an upload
		}
		out = append(out, v)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	_ = enc.Encode(out)
}

func maskSecret(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	out["secret"] = "***"
	return out
}

func cloneValues(q url.Values) url.Values {
	out := make(url.Values, len(q))
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// normPath accepts "/cgi-bin/x/y", "x/y" and "/x/y" alike.
func normPath(p string) string {
	if p == "" || strings.HasPrefix(p, "/cgi-bin/") || strings.HasPrefix(p, "/_fake/") {
		return p
	}
	return "/cgi-bin/" + strings.TrimPrefix(p, "/")
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func list(m map[string]any, k string) []string {
	raw, _ := m[k].([]any)
	out := make([]string, 0, len(raw))
	for _, v := range raw {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
