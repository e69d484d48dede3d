package outbox_test

import (
	"context"
	"testing"
	"time"

	"nuanjia/bot/outbox"
)

// BenchmarkTwoSenders is two serve processes' senders emptying an outbox
// of b.N customer-service rows for 500 members, through the fake WeChat
// API and real PostgreSQL and Redis:
//
//	go test -run '^$' -bench TwoSenders -benchtime 5000x ./bot/outbox/
func BenchmarkTwoSenders(b *testing.B) {
	for _, cfg := range []struct {
		name string
		cfg  outbox.Config
	}{
		{"defaults", outbox.Config{}},
		{"workers=32", outbox.Config{Workers: 32, Batch: 64}},
	} {
		b.Run(cfg.name, func(b *testing.B) { benchSenders(b, cfg.cfg) })
	}
}

func benchSenders(b *testing.B, cfg outbox.Config) {
	e := newEnv(b)
	const members = 500
	if _, err := e.st.DB().Exec(`INSERT INTO messages (openid, direction, type, text, at)
		SELECT 'o' || m, 'in', 'text', '你好', now() FROM generate_series(1, $1) m`, members); err != nil {
		b.Fatal(err)
	}
	// At most 5 rows per member fit WeChat's quota for one message; more
	// rows than that go to more members.
	n := b.N
	if _, err := e.st.DB().Exec(`INSERT INTO outbox (openid, kind, channel, text, status)
		SELECT 'o' || (i % $2) || '-' || (i / ($2 * 5)), 'reply', 'customer_service', 'row ' || i, 'pending'
		FROM generate_series(0, $1 - 1) i ORDER BY i`, n, members); err != nil {
		b.Fatal(err)
	}
	if _, err := e.st.DB().Exec(`INSERT INTO messages (openid, direction, type, text, at)
		SELECT DISTINCT openid, 'in', 'text', '你好', now() FROM outbox`); err != nil {
		b.Fatal(err)
	}
	senders := make([]*outbox.Sender, 2)
	for i := range senders {
		senders[i] = outbox.New(cfg, e.openStore(b), e.client(b), nil, nil)
	}
	// Fetch the access token before the clock starts.
	if err := e.client(b).SendText(context.Background(), "warm-up", "x"); err != nil {
		b.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ResetTimer()
	start := time.Now()
	var dones []<-chan error
	for _, s := range senders {
		dones = append(dones, run(ctx, s))
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		var left int
		if err := e.st.DB().Get(&left, `SELECT count(*) FROM outbox WHERE status <> 'sent'`); err != nil {
			b.Fatal(err)
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d rows still not sent", left)
		}
		time.Sleep(5 * time.Millisecond)
	}
	took := time.Since(start)
	b.StopTimer()
	cancel()
	for _, d := range dones {
		if err := <-d; err != nil {
			b.Fatal(err)
		}
	}
	if calls := len(e.fake.Calls(csSend)) - 1; calls != n {
		b.Fatalf("%d calls for %d rows", calls, n)
	}
	b.ReportMetric(float64(n)/took.Seconds(), "sends/s")
}
