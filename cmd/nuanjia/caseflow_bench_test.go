package main

// Benchmarks of the case desk through the whole app: what opening a case
// adds to the webhook's answer, and how soon a director's alert reaches
// WeChat. They run only with -bench, e.g.
//
//	go test ./cmd/nuanjia/ -run '^$' -bench 'CaseOpening|AlertDelivery' -benchtime=200x

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// cfPercentile is the q-th quantile (0..1) of ds, nearest rank.
func cfPercentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func cfMillis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkCaseOpeningExtraLatency: the webhook's answer time for a help
// request from a new member (a case opened, its alert written) against a
// greeting from a new member (no case), both through the full path, in
// turns so both see the same load.
func BenchmarkCaseOpeningExtraLatency(b *testing.B) {
	w := newCFWorld(b, map[string]string{"WECHAT_TEMPLATE_CASE_ALERT": cfAlertTemplate, "CASE_CLOCK_EVERY": ""})
	s := w.serve("A", "")
	var opening, plain []time.Duration
	i := 0
	for b.Loop() {
		i++
		help := func() {
			answer, took, err := s.tryPost(cfText(fmt.Sprintf("o-bench-help-%d", i), "我在新州镇，老板拖欠工资三个月了"))
			if err != nil || !strings.Contains(answer, "编号") {
				b.Fatalf("help → %q, %v; want a case number", answer, err)
			}
			opening = append(opening, took)
		}
		greet := func() {
			answer, took, err := s.tryPost(cfText(fmt.Sprintf("o-bench-greet-%d", i), "你好"))
			if err != nil || answer == "" || strings.Contains(answer, "编号") {
				b.Fatalf("你好 → %q, %v; want a greeting and no case", answer, err)
			}
			plain = append(plain, took)
		}
		if i%2 == 0 {
			help()
			greet()
		} else {
			greet()
			help()
		}
	}
	b.StopTimer()
	b.ReportMetric(cfMillis(cfPercentile(opening, 0.5)), "open-p50-ms")
	b.ReportMetric(cfMillis(cfPercentile(opening, 0.99)), "open-p99-ms")
	b.ReportMetric(cfMillis(cfPercentile(plain, 0.5)), "plain-p50-ms")
	b.ReportMetric(cfMillis(cfPercentile(plain, 0.99)), "plain-p99-ms")
	b.ReportMetric(cfMillis(cfPercentile(opening, 0.5)-cfPercentile(plain, 0.5)), "extra-p50-ms")
	b.ReportMetric(cfMillis(cfPercentile(opening, 0.99)-cfPercentile(plain, 0.99)), "extra-p99-ms")
}

// cfArrivals notes when the fake WeChat API first received a message for
// one recipient about one case.
type cfArrivals struct {
	next http.Handler
	mu   sync.Mutex
	at   map[string]time.Time
	wait map[string]chan struct{}
}

func cfArrivalKey(to string, number string) string { return to + "#" + number }

func (a *cfArrivals) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == cfTemplatePath {
		now := time.Now()
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var m struct {
			ToUser string `json:"touser"`
			Data   map[string]struct {
				Value string `json:"value"`
			} `json:"data"`
		}
		if json.Unmarshal(body, &m) == nil {
			k := cfArrivalKey(m.ToUser, m.Data["character_string1"].Value)
			a.mu.Lock()
			if _, seen := a.at[k]; !seen {
				a.at[k] = now
				if ch, ok := a.wait[k]; ok {
					close(ch)
				}
			}
			a.mu.Unlock()
		}
	}
	a.next.ServeHTTP(w, r)
}

// await returns when the message to to about number arrived.
func (a *cfArrivals) await(to, number string, within time.Duration) (time.Time, bool) {
	k := cfArrivalKey(to, number)
	a.mu.Lock()
	if at, ok := a.at[k]; ok {
		a.mu.Unlock()
		return at, true
	}
	ch, ok := a.wait[k]
	if !ok {
		ch = make(chan struct{})
		a.wait[k] = ch
	}
	a.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(within):
		return time.Time{}, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.at[k], true
}

// BenchmarkAlertDelivery: two serve processes on one schema; the time from
// posting a member's help request (to either, in turns) to the fake WeChat
// API receiving the 新州 director's alert.
func BenchmarkAlertDelivery(b *testing.B) {
	w := newCFWorld(b, map[string]string{"WECHAT_TEMPLATE_CASE_ALERT": cfAlertTemplate, "CASE_CLOCK_EVERY": ""})
	arrivals := &cfArrivals{next: w.fake, at: map[string]time.Time{}, wait: map[string]chan struct{}{}}
	api := httptest.NewServer(arrivals)
	b.Cleanup(api.Close)
	servers := []*cfServer{w.serve("A", api.URL), w.serve("B", api.URL)}
	var took []time.Duration
	i := 0
	for b.Loop() {
		i++
		s := servers[i%2]
		push := cfText(fmt.Sprintf("o-bench-alert-%d", i), "我在新州镇，老板拖欠工资三个月了")
		began := time.Now()
		answer, _, err := s.tryPost(push)
		if err != nil {
			b.Fatal(err)
		}
		m := cfNumberRE.FindStringSubmatch(answer)
		if m == nil {
			b.Fatalf("help → %q, want a case number", answer)
		}
		at, ok := arrivals.await(cfXinzhouDirector, m[1], 10*time.Second)
		if !ok {
			b.Fatalf("case %s's alert did not reach the API in 10 s", m[1])
		}
		took = append(took, at.Sub(began))
	}
	b.StopTimer()
	b.ReportMetric(cfMillis(cfPercentile(took, 0.5)), "p50-ms")
	b.ReportMetric(cfMillis(cfPercentile(took, 0.99)), "p99-ms")
	b.ReportMetric(cfMillis(slices.Max(took)), "max-ms")
}
