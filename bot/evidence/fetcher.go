// Package evidence keeps the bot's own copy of the photos, voice and video
// members send about their cases. WeChat keeps a pushed medium for 3 days
// (bot.MediaLifetime); a Fetcher downloads each one before then into the
// case_evidence table, so a director can still see it, and it is erased
// and backed up with the rest of the member's data.
//
// Each row is leased while it is fetched, so several processes never fetch
// the same row at once, and a process that dies mid-fetch leaves the row to
// be fetched again when its lease ends.
package evidence

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"nuanjia/bot"
	"nuanjia/bot/wxapi"
)

// Queue is case_evidence as the fetcher needs it; *store.Store is one.
type Queue interface {
	// ClaimEvidence leases up to limit rows due for fetching for lease and
	// counts the attempt. Rows WeChat no longer has, and due rows that had
	// maxAttempts attempts, are failed instead of returned.
	ClaimEvidence(ctx context.Context, limit int, lease time.Duration, maxAttempts int) ([]bot.Evidence, error)
	// SaveEvidence stores the copy.
	SaveEvidence(ctx context.Context, id int64, contentType string, data []byte) error
	// RetryEvidence makes the row due again after the wait.
	RetryEvidence(ctx context.Context, id int64, after time.Duration, errText string) error
	// FailEvidence gives up on the row.
	FailEvidence(ctx context.Context, id int64, errText string) error
}

// Client is the WeChat API as the fetcher needs it; *wxapi.Client is one.
type Client interface {
	GetMedia(ctx context.Context, mediaID string) (data []byte, contentType string, err error)
}

// Config holds the fetcher's sizes and timings; zero values take the
// defaults below.
type Config struct {
	// Batch is the most rows claimed in one round.
	Batch int
	// Workers is how many downloads run at once.
	Workers int
	// Lease is how long a claimed row stays the claimer's. It must cover
	// waiting for a worker, FetchTimeout and saving the copy.
	Lease time.Duration
	// FetchTimeout bounds one download, the access token included.
	FetchTimeout time.Duration
	// MaxAttempts bounds the attempts at a row; WeChat's expiry bounds
	// them too.
	MaxAttempts int
	// BackoffBase and BackoffCap shape the wait before a retry: as long as
	// the medium has waited since the member sent it, at least BackoffBase
	// and at most BackoffCap, the second half of it random. Failures in a
	// row so double the wait without counting them.
	BackoffBase, BackoffCap time.Duration
}

// Defaults for Config.
const (
	DefaultBatch        = 16
	DefaultWorkers      = 4
	DefaultLease        = 2 * time.Minute
	DefaultFetchTimeout = time.Minute
	// DefaultMaxAttempts is enough retries to ride out a WeChat outage of
	// many hours with DefaultBackoffCap, well inside the 3 days.
	DefaultMaxAttempts = 40
	DefaultBackoffBase = 10 * time.Second
	DefaultBackoffCap  = 30 * time.Minute
)

func (c Config) withDefaults() Config {
	if c.Batch <= 0 {
		c.Batch = DefaultBatch
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.Lease <= 0 {
		c.Lease = DefaultLease
	}
	if c.FetchTimeout <= 0 {
		c.FetchTimeout = DefaultFetchTimeout
	}
	if c.FetchTimeout > c.Lease/2 {
		// Leave half the lease for waiting for a worker and saving.
		c.FetchTimeout = c.Lease / 2
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = DefaultBackoffBase
	}
	if c.BackoffCap <= 0 {
		c.BackoffCap = DefaultBackoffCap
	}
	c.BackoffCap = max(c.BackoffCap, c.BackoffBase)
	return c
}

// recordTimeout bounds recording an outcome; it runs on a context of its
// own so a stopping fetcher still records what it fetched.
const recordTimeout = 5 * time.Second

// Fetcher downloads due evidence. It is safe for concurrent use, and
// several processes may run one each.
type Fetcher struct {
	cfg   Config
	queue Queue
	wx    Client
	log   *slog.Logger
}

// New returns a Fetcher; log may be nil.
func New(cfg Config, queue Queue, client Client, log *slog.Logger) *Fetcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Fetcher{cfg: cfg.withDefaults(), queue: queue, wx: client, log: log}
}

// FetchDue is one round: it claims up to Batch due rows, downloads them
// with up to Workers at once and records each outcome. It returns how many
// rows it claimed; the error is the claim's. Outcomes that could not be
// recorded are logged, and their rows come back when their lease ends.
func (f *Fetcher) FetchDue(ctx context.Context) (int, error) {
	due, err := f.queue.ClaimEvidence(ctx, f.cfg.Batch, f.cfg.Lease, f.cfg.MaxAttempts)
	if err != nil {
		return 0, err
	}
	slots := make(chan struct{}, f.cfg.Workers)
	var wg sync.WaitGroup
	for _, e := range due {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			f.fetch(ctx, e)
		})
	}
	wg.Wait()
	return len(due), nil
}

// fetch downloads one claimed row and records the outcome.
func (f *Fetcher) fetch(ctx context.Context, e bot.Evidence) {
	switch {
	case ctx.Err() != nil:
		f.retry(ctx, e, 0, "the fetcher stopped before fetching it")
		return
	case e.MediaID == "":
		f.fail(ctx, e, "no media id to fetch")
		return
	case !time.Now().Before(e.Expires):
		// Expired since the claim: WeChat no longer has it.
		f.fail(ctx, e, "WeChat's copy expired before it was fetched")
		return
	}
	fctx, cancel := context.WithTimeout(ctx, f.cfg.FetchTimeout)
	data, contentType, err := f.wx.GetMedia(fctx, e.MediaID)
	cancel()
	if err == nil {
		f.save(ctx, e, contentType, data)
		return
	}
	desc := describe(err)
	switch kind := wxapi.KindOf(err); {
	case ctx.Err() != nil:
		// Cut off because the fetcher is stopping: due at once for whichever
		// process is still running.
		f.retry(ctx, e, 0, desc)
	case kind == wxapi.KindRetryLater, kind == wxapi.KindBadToken:
		f.retry(ctx, e, f.backoff(e), desc)
	default:
		f.fail(ctx, e, desc)
	}
}

func (f *Fetcher) save(ctx context.Context, e bot.Evidence, contentType string, data []byte) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := f.queue.SaveEvidence(rctx, e.ID, contentType, data); err != nil {
		f.log.Error("evidence fetched but not saved; it is fetched again when its lease ends",
			"evidence_id", e.ID, "case_id", e.CaseID, "error", err)
		return
	}
	f.log.Info("evidence fetched", "evidence_id", e.ID, "case_id", e.CaseID, "media_id", e.MediaID,
		"kind", e.Kind, "content_type", contentType, "size", len(data))
}

func (f *Fetcher) retry(ctx context.Context, e bot.Evidence, after time.Duration, desc string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	f.log.Warn("evidence not fetched; trying again later", "evidence_id", e.ID, "case_id", e.CaseID,
		"media_id", e.MediaID, "error", desc, "retry_in", after.Round(time.Second).String())
	if err := f.queue.RetryEvidence(rctx, e.ID, after, desc); err != nil {
		f.log.Warn("evidence retry not recorded; it is due again when its lease ends",
			"evidence_id", e.ID, "error", err)
	}
}

func (f *Fetcher) fail(ctx context.Context, e bot.Evidence, desc string) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	f.log.Warn("evidence given up", "evidence_id", e.ID, "case_id", e.CaseID, "media_id", e.MediaID, "error", desc)
	if err := f.queue.FailEvidence(rctx, e.ID, desc); err != nil {
		f.log.Warn("evidence failure not recorded; it is due again when its lease ends",
			"evidence_id", e.ID, "error", err)
	}
}

// backoff is the wait before the next attempt at e: as long as e has
// waited since it was sent, within BackoffBase and BackoffCap, its second
// half random so rows that failed together do not come back together.
// Waiting as long again as the medium is old doubles the wait with every
// failure in a row, with no count of them kept.
func (f *Fetcher) backoff(e bot.Evidence) time.Duration {
	d := min(max(time.Since(e.At), f.cfg.BackoffBase), f.cfg.BackoffCap)
	half := d / 2
	return half + rand.N(d-half+1)
}

// maxErrorLen bounds what the row keeps of an error.
const maxErrorLen = 200

// describe is what the row and the log keep of a failed fetch; never
// media bytes or the access token.
func describe(err error) string {
	_, desc := wxapi.Describe(err, maxErrorLen)
	return desc
}
