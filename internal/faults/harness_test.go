//go:build faults

package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"nuanjia/internal/wxtest"
)

// toyBot is a stand-in webhook with known misbehaviour, so the harness's
// own counting can be checked without PostgreSQL or nuanjia. By the
// push's number n (the openid's tail):
//
//	n%10 == 0  first attempt hangs past WeChat's 5 s, then a passive reply
//	n%10 == 1  first attempt 503, then a passive reply
//	n%10 == 2  "success", the reply by customer-service message
//	n%10 == 3  a passive reply and a customer-service message: duplicated
//	n%10 == 4  "success" and nothing: lost
//	n%10 == 5  a 400 the first time: a refused valid push
//	n%10 == 9  malformed (the stream makes every 10th one so): 400
//	otherwise  a passive reply
type toyBot struct {
	api    string
	mu     sync.Mutex
	seen   map[string]int
	token  string
	prefix string
}

func (b *toyBot) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var m struct {
		From string `xml:"FromUserName"`
		Type string `xml:"MsgType"`
	}
	if xml.Unmarshal(body, &m) != nil || !strings.HasPrefix(m.From, b.prefix) || len(m.From) > 64 {
		http.Error(w, "bad push", http.StatusBadRequest)
		return
	}
	n, _ := strconv.Atoi(strings.TrimPrefix(m.From, b.prefix))
	b.mu.Lock()
	b.seen[m.From]++
	try := b.seen[m.From]
	b.mu.Unlock()
	passive := func() {
		fmt.Fprintf(w, "<xml><ToUserName><![CDATA[%s]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName>"+
			"<CreateTime>%d</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好！]]></Content></xml>",
			m.From, account, time.Now().Unix())
	}
	switch n % 10 {
	case 0:
		if try == 1 {
			select {
			case <-time.After(6 * time.Second):
			case <-r.Context().Done():
			}
			return
		}
		passive()
	case 1:
		if try == 1 {
			http.Error(w, "retry", http.StatusServiceUnavailable)
			return
		}
		passive()
	case 2:
		io.WriteString(w, "success")
		b.send(m.From)
	case 3:
		passive()
		b.send(m.From)
	case 4:
		io.WriteString(w, "success")
	case 5:
		if try == 1 {
			http.Error(w, "no", http.StatusBadRequest)
			return
		}
		passive()
	default:
		passive()
	}
}

// send posts a customer-service text to the fake API as the bot would.
func (b *toyBot) send(to string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.token == "" {
		req, _ := json.Marshal(map[string]any{"grant_type": "client_credential", "appid": appID, "secret": appSecret})
		resp, err := http.Post(b.api+"/cgi-bin/stable_token", "application/json", bytes.NewReader(req))
		if err != nil {
			return
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&tok)
		resp.Body.Close()
		b.token = tok.AccessToken
	}
	msg, _ := json.Marshal(map[string]any{"touser": to, "msgtype": "text", "text": map[string]string{"content": "你好！"}})
	resp, err := http.Post(b.api+"/cgi-bin/message/custom/send?access_token="+b.token, "application/json", bytes.NewReader(msg))
	if err == nil {
		resp.Body.Close()
	}
}

// TestHarnessSelfCheck runs the load generator and the counting against
// toyBot and checks every column comes out as toyBot's rules say.
func TestHarnessSelfCheck(t *testing.T) {
	fake := wxtest.NewFakeAPI()
	fake.SetCredentials(appID, appSecret)
	api := httptest.NewServer(fake)
	defer api.Close()

	bot := &toyBot{api: api.URL, seen: map[string]int{}}
	srv := httptest.NewServer(bot)
	defer srv.Close()
	sim, err := newWechatSim(srv.URL+"/wechat", wxtest.Signer{Token: token, AppID: appID})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.close()
	bot.prefix = sim.openidPrefix("hc")
	if _, err := newWechatSim("http://192.0.2.1/wechat", sim.signer); err == nil {
		t.Error("the load generator accepted a non-loopback address")
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t0 := time.Now()
	res := sim.runStream(ctx, stream{code: "hc", rate: 100, dur: time.Second, malformedEvery: 10, maxPushes: 1000}, t0)
	if len(res.results) != 100 {
		t.Fatalf("%d pushes sent, want 100", len(res.results))
	}
	cs, failed := csDelivered(fake.Calls("/cgi-bin/message/custom/send"))
	if failed != 0 {
		t.Errorf("%d customer-service calls failed", failed)
	}
	tl := count(res.results, cs)
	t.Logf("achieved %.0f/s; %d attempts, %d retries, %d timeouts; %s; slowest %s",
		res.achievedRate, tl.attempts, tl.retried, tl.timeouts, tl.statusLine(), tl.slowest)
	// 90 valid: 10 each of n%10 in 0..8; 10 malformed (n%10 == 9).
	check := func(name string, got, want int) {
		if got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	check("sent", tl.sent, 90)
	check("lost", tl.lost, 10)
	check("answered", tl.answered, 80)
	check("duplicated", tl.duplicated, 10)
	check("refused valid", tl.refusedValid, 10)
	check("timeouts", tl.timeouts, 10)
	check("retries", tl.retried, 30) // n%10 in {0, 1, 5}
	check("malformed", tl.malformed, 10)
	check("malformed with 4xx", tl.malformed4xx, 10)
	if tl.slowest < attemptTimeout || tl.slowest > attemptTimeout+time.Second {
		t.Errorf("slowest = %s, want just over 5 s (the hanging attempts)", tl.slowest)
	}
	// The retry of a timed-out or refused attempt starts 5 s after it began.
	for _, r := range res.results {
		for i := 1; i < len(r.attempts); i++ {
			gap := r.attempts[i].at - r.attempts[i-1].at
			if gap < retryAfter || gap > retryAfter+500*time.Millisecond {
				t.Errorf("push %d: retry %d began %s after the attempt before", r.p.n, i, gap)
			}
		}
	}
	for _, r := range tl.lostList {
		if r.p.n%10 != 4 {
			t.Errorf("push %d counted lost: %s", r.p.n, r.history())
		}
	}
	for _, r := range tl.dupList {
		if r.p.n%10 != 3 {
			t.Errorf("push %d counted duplicated: %s", r.p.n, r.history())
		}
	}
}
