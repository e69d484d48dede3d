//go:build faults

package faults

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"nuanjia/handlers"
	"nuanjia/internal/wxtest"
)

// WeChat's delivery rules (shared/docs/wechat-platform.md §1.2): it waits
// five seconds for an answer, then drops the connection and tries again,
// three more times. A refused attempt is tried again the same way.
const (
	attemptTimeout = 5 * time.Second
	retryAfter     = 5 * time.Second // from the start of the attempt before
	maxAttempts    = 4               // the first and three retries
	greeting       = "你好"            // the greeting intent: exactly one reply
	account        = "gh_nuanjia_faults"
)

// Malformed kinds: each is correctly signed (so only its content is
// wrong) and must get a 4xx.
var malformedKinds = []string{"createtime-1e15", "openid-10KB", "broken-xml", "nan-location", "no-fromuser"}

// push is one push as WeChat would send it, with all its attempts sharing
// the body, timestamp and nonce.
type push struct {
	n      int
	openid string // "" for the malformed ones without a usable one
	kind   string // "valid" or one of malformedKinds
	query  string
	body   []byte
}

func (p *push) valid() bool { return p.kind == "valid" }

// attempt is one HTTP request of a push, as WeChat saw it.
type attempt struct {
	at      time.Duration // since the stream began
	latency time.Duration // until the answer was read, or the failure
	status  int           // 0: no HTTP answer
	err     string        // timeout, refused, reset, eof, …
	answer  string        // for a 200: passive, success, empty, other
}

func (a attempt) String() string {
	s := fmt.Sprintf("t+%.2fs ", a.at.Seconds())
	switch {
	case a.status == 0:
		s += a.err
	case a.status == http.StatusOK:
		s += "200 " + a.answer
	default:
		s += strconv.Itoa(a.status)
	}
	return s + fmt.Sprintf(" (%dms)", a.latency.Milliseconds())
}

type pushResult struct {
	p        *push
	attempts []attempt // written by one goroutine, read after the stream
}

func (r *pushResult) history() string {
	parts := make([]string, len(r.attempts))
	for i, a := range r.attempts {
		parts[i] = a.String()
	}
	return strings.Join(parts, "; ")
}

// passive: some attempt got the reply in its HTTP answer.
func (r *pushResult) passive() bool {
	for _, a := range r.attempts {
		if a.status == http.StatusOK && a.answer == "passive" {
			return true
		}
	}
	return false
}

// wechatSim posts pushes to the webhook the way WeChat's servers do.
type wechatSim struct {
	url    string
	signer wxtest.Signer
	client *http.Client
	msgID  atomic.Int64
	run    string // a few random hex digits, so openids never repeat across runs
}

func newWechatSim(webhookURL string, signer wxtest.Signer) (*wechatSim, error) {
	u, err := url.Parse(webhookURL)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("load generator only posts to loopback addresses, not %q", u.Host)
	}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: attemptTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        4096,
		MaxIdleConnsPerHost: 4096,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	s := &wechatSim{url: webhookURL, signer: signer, client: &http.Client{Transport: tr}, run: hex.EncodeToString(b)}
	var seed [8]byte
	_, _ = rand.Read(seed[:])
	var n int64
	for _, c := range seed[:6] {
		n = n<<8 | int64(c)
	}
	s.msgID.Store(1<<60 | n) // positive, 61 bits, like WeChat's
	return s, nil
}

func (s *wechatSim) close() { s.client.CloseIdleConnections() }

// openidPrefix is shared by every valid push of one fault (LIKE-safe).
func (s *wechatSim) openidPrefix(code string) string { return "o" + code + s.run + "x" }

// build makes push n: valid, or the malformed kind given.
func (s *wechatSim) build(code string, n int, kind string) *push {
	now := time.Now().Unix()
	nonce := strconv.Itoa(n) + "n" + strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	id := s.msgID.Add(1)
	p := &push{n: n, kind: kind}
	bad := "b" + code + s.run + "x" + strconv.Itoa(n) // malformed pushes' members
	var msg string
	switch kind {
	case "valid":
		p.openid = s.openidPrefix(code) + fmt.Sprintf("%06d", n)
		msg = wxtest.Text(p.openid, account, greeting, id, now)
	case "createtime-1e15":
		msg = wxtest.Text(bad, account, greeting, id, 1_000_000_000_000_000)
	case "openid-10KB":
		msg = wxtest.Text(bad+strings.Repeat("o", 10<<10), account, greeting, id, now)
	case "broken-xml":
		full := wxtest.Text(bad, account, greeting, id, now)
		msg = full[:len(full)*2/3] // cut inside the CDATA of Content
	case "nan-location":
		msg = wxtest.Location(bad, account, math.NaN(), math.NaN(), "某地", id, now)
	case "no-fromuser":
		msg = "<xml><ToUserName><![CDATA[" + account + "]]></ToUserName>\n<CreateTime>" + strconv.FormatInt(now, 10) +
			"</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[" + greeting +
			"]]></Content>\n<MsgId>" + strconv.FormatInt(id, 10) + "</MsgId>\n</xml>"
	default:
		panic("unknown push kind " + kind)
	}
	q, body := s.signer.Plain(msg, now, nonce)
	p.query, p.body = q.Encode(), body
	return p
}

// deliver makes the attempts WeChat would: a new one 5 s after the last
// began while none got a 200, at most four. Malformed pushes stand for
// requests that are not WeChat's, so they get one attempt.
func (s *wechatSim) deliver(ctx context.Context, t0 time.Time, p *push, r *pushResult) {
	for k := 0; k < maxAttempts; k++ {
		begin := time.Now()
		a := s.attempt(ctx, p, begin)
		a.at = begin.Sub(t0)
		r.attempts = append(r.attempts, a)
		if a.status == http.StatusOK || !p.valid() || k == maxAttempts-1 {
			return
		}
		select {
		case <-time.After(time.Until(begin.Add(retryAfter))):
		case <-ctx.Done():
			return
		}
	}
}

func (s *wechatSim) attempt(ctx context.Context, p *push, begin time.Time) attempt {
	ctx, cancel := context.WithDeadline(ctx, begin.Add(attemptTimeout))
	defer cancel()
	var a attempt
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"?"+p.query, bytes.NewReader(p.body))
	if err != nil {
		a.err = err.Error()
		return a
	}
	req.Header.Set("Content-Type", "text/xml")
	req.Header.Set("User-Agent", "Mozilla/4.0") // what WeChat's pushes carry
	resp, err := s.client.Do(req)
	if err != nil {
		a.latency, a.err = time.Since(begin), errKind(err)
		return a
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	a.latency = time.Since(begin)
	if err != nil { // the answer never arrived whole: WeChat saw none
		a.err = errKind(err)
		return a
	}
	a.status = resp.StatusCode
	if a.status == http.StatusOK {
		a.answer = classifyAnswer(body, p.openid)
	}
	return a
}

// classifyAnswer reads a 200's body as WeChat would: "success" or empty
// means nothing now; an XML message to the member is a passive reply.
func classifyAnswer(body []byte, openid string) string {
	b := bytes.TrimSpace(body)
	switch {
	case len(b) == 0:
		return "empty"
	case string(b) == "success":
		return "success"
	}
	var m struct {
		ToUserName string `xml:"ToUserName"`
		MsgType    string `xml:"MsgType"`
		Content    string `xml:"Content"`
	}
	if xml.Unmarshal(b, &m) == nil && m.MsgType != "" && m.ToUserName == openid && (m.MsgType != "text" || m.Content != "") {
		return "passive"
	}
	return "other"
}

func errKind(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ETIMEDOUT):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	s := err.Error()
	if len(s) > 60 {
		s = s[len(s)-60:]
	}
	return s
}

// stream is one run of the load: rate pushes per second for dur, every
// malformedEvery-th one malformed (0: none).
type stream struct {
	code           string // two letters naming the fault in openids
	rate           float64
	dur            time.Duration
	malformedEvery int
	maxPushes      int
}

type streamResult struct {
	results      []*pushResult
	t0           time.Time
	sendDur      time.Duration // first to last push's first attempt
	achievedRate float64       // pushes (all kinds) per second actually sent
	done         time.Time     // every attempt finished
}

// run sends the stream and returns when every push's attempts are over.
// It is bounded: at most maxPushes pushes, each at most four attempts of
// five seconds, all inside ctx.
func (s *wechatSim) runStream(ctx context.Context, st stream, t0 time.Time) *streamResult {
	n := int(st.rate * st.dur.Seconds())
	if n > st.maxPushes {
		n = st.maxPushes
	}
	if n < 1 {
		n = 1
	}
	interval := time.Duration(float64(time.Second) / st.rate)
	res := &streamResult{results: make([]*pushResult, 0, n)}
	res.t0 = t0
	var wg sync.WaitGroup
	last := res.t0
	for i := 0; i < n; i++ {
		if ctx.Err() != nil {
			break
		}
		if d := time.Until(res.t0.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		kind := "valid"
		if st.malformedEvery > 0 && i%st.malformedEvery == st.malformedEvery-1 {
			kind = malformedKinds[(i/st.malformedEvery)%len(malformedKinds)]
		}
		r := &pushResult{p: s.build(st.code, i, kind)}
		res.results = append(res.results, r)
		last = time.Now()
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.deliver(ctx, res.t0, r.p, r)
		}()
	}
	res.sendDur = last.Sub(res.t0)
	if res.sendDur > 0 && len(res.results) > 1 {
		res.achievedRate = float64(len(res.results)-1) / res.sendDur.Seconds()
	}
	wg.Wait()
	res.done = time.Now()
	return res
}

// ---------------------------------------------------------------- counting

// csDelivered counts the customer-service texts WeChat took, by touser.
// Onboarding's questions to a new member (where are you, consent) follow
// the reply by design and are not replies: each stream's member is new.
func csDelivered(calls []wxtest.Call) (byOpenid map[string]int, failed int) {
	byOpenid = map[string]int{}
	for _, c := range calls {
		if text, _ := c.JSON["text"].(map[string]any); text != nil {
			if content, _ := text["content"].(string); content == handlers.TextBranchQuestion || content == handlers.TextConsentQuestion {
				continue
			}
		}
		to, _ := c.JSON["touser"].(string)
		if c.Status == http.StatusOK && c.Errcode == 0 {
			byOpenid[to]++
		} else {
			failed++
		}
	}
	return byOpenid, failed
}

// tally is what one fault's stream came to.
type tally struct {
	sent, answered, lost, duplicated, refusedValid int
	passiveOnly, csOnly, both                      int
	slowest                                        time.Duration
	attempts, retried, timeouts                    int
	statuses                                       map[string]int // every valid attempt's outcome
	latencies                                      []time.Duration
	lostList, dupList, refusedList                 []*pushResult

	malformed, malformed4xx int
	malformedBad            []*pushResult  // a malformed push that got no 4xx
	malformedByKind         map[string]int // kind → how many got a 4xx
	malformedSlowest        time.Duration
	strayCS                 int // CS texts to openids none of the valid pushes had
}

func count(results []*pushResult, cs map[string]int) tally {
	t := tally{statuses: map[string]int{}, malformedByKind: map[string]int{}}
	valid := map[string]bool{}
	for _, r := range results {
		if !r.p.valid() {
			t.malformed++
			got4xx := false
			for _, a := range r.attempts {
				if a.status >= 400 && a.status < 500 {
					got4xx = true
				}
				t.malformedSlowest = max(t.malformedSlowest, a.latency)
			}
			if got4xx && len(r.attempts) > 0 {
				t.malformed4xx++
				t.malformedByKind[r.p.kind]++
			} else {
				t.malformedBad = append(t.malformedBad, r)
			}
			continue
		}
		valid[r.p.openid] = true
		t.sent++
		refused := false
		for i, a := range r.attempts {
			t.attempts++
			if i > 0 {
				t.retried++
			}
			if a.err == "timeout" {
				t.timeouts++
			}
			key := a.err
			if a.status != 0 {
				key = strconv.Itoa(a.status)
				if a.status == http.StatusOK {
					key += " " + a.answer
				}
			}
			t.statuses[key]++
			t.latencies = append(t.latencies, a.latency)
			t.slowest = max(t.slowest, a.latency)
			if a.status >= 400 && a.status < 500 {
				refused = true
			}
		}
		if refused {
			t.refusedValid++
			t.refusedList = append(t.refusedList, r)
		}
		passive := r.passive()
		replies := cs[r.p.openid]
		if passive {
			replies++
		}
		switch {
		case replies == 0:
			t.lost++
			t.lostList = append(t.lostList, r)
		case replies > 1:
			t.duplicated++
			t.dupList = append(t.dupList, r)
		}
		if replies > 0 {
			t.answered++
		}
		switch {
		case passive && cs[r.p.openid] > 0:
			t.both++
		case passive:
			t.passiveOnly++
		case cs[r.p.openid] > 0:
			t.csOnly++
		}
	}
	for to, n := range cs {
		if !valid[to] {
			t.strayCS += n
		}
	}
	sort.Slice(t.latencies, func(i, j int) bool { return t.latencies[i] < t.latencies[j] })
	return t
}

func (t tally) percentile(p float64) time.Duration {
	if len(t.latencies) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(t.latencies)))) - 1
	return t.latencies[max(0, min(i, len(t.latencies)-1))]
}

func (t tally) statusLine() string {
	keys := make([]string, 0, len(t.statuses))
	for k := range t.statuses {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return t.statuses[keys[i]] > t.statuses[keys[j]] })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s×%d", k, t.statuses[k])
	}
	return strings.Join(parts, ", ")
}
