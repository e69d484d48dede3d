package broadcast

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"nuanjia/bot/wxapi"
)

// Store is the broadcasts as the scheduler needs them; *store.Store is one.
type Store interface {
	// ClaimDueBroadcast claims, for lease, the broadcast due soonest at
	// now: its time has come, or its preview's (previewLead before it).
	// A claimed broadcast is not claimed again until the lease ends or it
	// is released; several processes may claim at once.
	ClaimDueBroadcast(ctx context.Context, now time.Time, previewLead, lease time.Duration) (Broadcast, bool, error)
	// ReleaseBroadcast ends the claim; the broadcast is due again from
	// until (the zero time: as soon as its time says).
	ReleaseBroadcast(ctx context.Context, id int64, until time.Time) error
	// RecordPreview records the preview's outcome (problem "" when it went)
	// and moves a scheduled broadcast to previewed.
	RecordPreview(ctx context.Context, id int64, problem string) error
	// TagsOutOfStep counts, on the branches (nil: every branch), members
	// who opted out of broadcasts but whose branch tag WeChat still holds
	// (a tag send now would reach them), and followers not holding their
	// branch's tag yet (a tag send now would miss them).
	TagsOutOfStep(ctx context.Context, branches []string) (optedOut, untagged int, err error)
	// MostDelivered is, for each of the branches (nil: every branch), the
	// most broadcasts one of its members received in month m.
	MostDelivered(ctx context.Context, m Month, branches []string) (map[string]int, error)
	// BranchNames lists every branch with its short name.
	BranchNames(ctx context.Context) ([]BranchName, error)
	// PlanSends is one send per branch of the broadcast's audience whose
	// tag WeChat holds for some member, with its clientmsgid.
	PlanSends(ctx context.Context, b Broadcast) ([]Send, error)
	// StartSending records the sends and moves the broadcast to sending;
	// false when it was cancelled meanwhile.
	StartSending(ctx context.Context, id int64, sends []Send) (bool, error)
	// BroadcastSends are the broadcast's sends.
	BroadcastSends(ctx context.Context, id int64) ([]Send, error)
	// RecordSent records WeChat's msg_id for the send to the branch, and,
	// in the same transaction, that its members on the tag got a broadcast
	// in month m.
	RecordSent(ctx context.Context, id int64, branch string, msgID int64, m Month) error
	// RecordRefused records that the send to the branch will not go.
	RecordRefused(ctx context.Context, id int64, branch, problem string) error
	// FinishBroadcast moves a broadcast still pending to status (sent or
	// skipped, with reason) and, in the same transaction, inserts next (nil
	// for none) as its series' next occurrence. false when it was not
	// pending any more.
	FinishBroadcast(ctx context.Context, id int64, status Status, reason string, next *Broadcast) (bool, error)
	// PurgeDeliveries forgets deliveries of months before m: the quota no
	// longer reads them.
	PurgeDeliveries(ctx context.Context, before Month) error
}

// Client is the WeChat API as the scheduler needs it; *wxapi.Client is one.
type Client interface {
	PreviewText(ctx context.Context, openID, text string) error
	MassSendText(ctx context.Context, m wxapi.MassText) (msgID int64, repeated bool, err error)
}

// Config holds the scheduler's rules and timings; zero values take the
// defaults below.
type Config struct {
	Limit       int            // mass messages per member per calendar month
	Zone        *time.Location // the quota's months and cron expressions (nil: UTC+8)
	PreviewLead time.Duration  // how long before its time the preview goes
	Lease       time.Duration  // a claim's length; WeChat's calls get half of it
	RetryAfter  time.Duration  // the first wait after WeChat said "later"; doubled each time, up to MaxRetryAfter
	TagSyncWait time.Duration  // the wait for the tag sync to take an opted-out member off a tag (its interval)
	Now         func() time.Time
}

// Defaults for Config.
const (
	DefaultLimit       = 4
	DefaultPreviewLead = time.Hour
	DefaultLease       = 2 * time.Minute
	DefaultRetryAfter  = time.Minute
	DefaultTagSyncWait = 30 * time.Second
	// untaggedWait is how long after its time a broadcast waits for the
	// tag sync to reach members who do not hold their branch's tag yet.
	untaggedWait  = 10 * time.Minute
	MaxRetryAfter = 30 * time.Minute
	// giveUpAfter: WeChat remembers a clientmsgid for 24 hours, so a send
	// still in doubt this long after its time is not tried again: a retry
	// could reach members twice.
	giveUpAfter = 23 * time.Hour
	// maxClaims bounds one round; the next round takes the rest.
	maxClaims = 100
	// keptMonths: deliveries of the current month and the one before are
	// kept; the quota reads only the current one.
	keptMonths = 2
)

func (c Config) withDefaults() Config {
	if c.Limit <= 0 {
		c.Limit = DefaultLimit
	}
	if c.Zone == nil {
		c.Zone = time.FixedZone("CST", 8*60*60)
	}
	if c.PreviewLead <= 0 {
		c.PreviewLead = DefaultPreviewLead
	}
	if c.Lease <= 0 {
		c.Lease = DefaultLease
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = DefaultRetryAfter
	}
	if c.TagSyncWait <= 0 {
		c.TagSyncWait = DefaultTagSyncWait
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// recordTimeout bounds recording an outcome; it runs on a context of its
// own so a stopping process still records what WeChat did.
const recordTimeout = 5 * time.Second

// Scheduler sends broadcasts when they are due. It is safe for concurrent
// use, and several processes may run one each: a broadcast is claimed by
// one round at a time, and its sends carry clientmsgids.
type Scheduler struct {
	cfg Config
	st  Store
	wx  Client
	log *slog.Logger
}

// NewScheduler returns a Scheduler; log may be nil.
func NewScheduler(cfg Config, st Store, wx Client, log *slog.Logger) *Scheduler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{cfg: cfg.withDefaults(), st: st, wx: wx, log: log}
}

// Result counts what a round did.
type Result struct {
	Previewed int // previews sent
	Sent      int // broadcasts WeChat took
	Skipped   int // broadcasts not sent (the quota, or WeChat refused them)
	Waiting   int // broadcasts left for a later round (WeChat said later, or the tag sync is behind)
}

// Round handles the broadcasts due now. WeChat's failures are counted and
// logged, not returned; the error is the store's.
func (s *Scheduler) Round(ctx context.Context) (Result, error) {
	var res Result
	now := s.cfg.Now()
	keep := MonthOf(now, s.cfg.Zone)
	for range keptMonths - 1 {
		keep = keep.prev()
	}
	if err := s.st.PurgeDeliveries(ctx, keep); err != nil {
		return res, fmt.Errorf("purge broadcast deliveries: %w", err)
	}
	for range maxClaims {
		if ctx.Err() != nil {
			break
		}
		b, ok, err := s.st.ClaimDueBroadcast(ctx, s.cfg.Now(), s.cfg.PreviewLead, s.cfg.Lease)
		if err != nil {
			return res, fmt.Errorf("claim broadcast: %w", err)
		}
		if !ok {
			break
		}
		if err := s.handle(ctx, b, &res); err != nil {
			return res, fmt.Errorf("broadcast %d: %w", b.ID, err)
		}
	}
	return res, nil
}

func (m Month) prev() Month {
	if m.Month == time.January {
		return Month{m.Year - 1, time.December}
	}
	return Month{m.Year, m.Month - 1}
}

// record is a context for writing down what WeChat did.
func record(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
}

// handle takes one claimed broadcast as far as it can go now.
func (s *Scheduler) handle(ctx context.Context, b Broadcast, res *Result) error {
	wxCtx, cancel := context.WithTimeout(ctx, s.cfg.Lease/2)
	defer cancel()
	now := s.cfg.Now()
	if b.Status == StatusScheduled && b.PreviewTo != "" {
		err := s.wx.PreviewText(wxCtx, b.PreviewTo, b.Text)
		if err != nil && retryable(err) && b.At.After(now) {
			res.Waiting++
			return s.release(ctx, b, now.Add(s.backoff(b)))
		}
		problem := ""
		if err != nil {
			_, problem = wxapi.Describe(err, 200)
			s.log.Warn("broadcast preview not sent", "broadcast", b.ID, "kind", wxapi.KindOf(err).String())
		} else {
			res.Previewed++
			s.log.Info("broadcast preview sent", "broadcast", b.ID, "openid", b.PreviewTo)
		}
		rctx, rcancel := record(ctx)
		err = s.st.RecordPreview(rctx, b.ID, problem)
		rcancel()
		if err != nil {
			return fmt.Errorf("record preview: %w", err)
		}
		b.Status = StatusPreviewed
	}
	if b.At.After(now) {
		return s.release(ctx, b, time.Time{})
	}
	if b.Status != StatusSending {
		started, err := s.start(ctx, b, now, res)
		if err != nil || !started {
			return err
		}
	}
	return s.send(ctx, wxCtx, b, now, res)
}

// start checks a broadcast whose time has come and plans its sends. It
// returns false when the broadcast is not to be sent now: skipped for the
// quota, waiting for the tag sync, or cancelled meanwhile.
func (s *Scheduler) start(ctx context.Context, b Broadcast, now time.Time, res *Result) (bool, error) {
	// A member who wrote 不要推送 still holds their branch tag until the
	// tag sync's next round takes it off; a tag send must wait for it.
	// Members who joined or moved just now do not hold their tag yet; a
	// send now would miss them (and, before the first sync, everyone). It
	// waits for them a while, not for ever: a follower WeChat keeps
	// refusing to tag must not hold the broadcast back.
	optedOut, untagged, err := s.st.TagsOutOfStep(ctx, b.Branches)
	if err != nil {
		return false, fmt.Errorf("count members out of step with their tags: %w", err)
	}
	if optedOut > 0 || (untagged > 0 && now.Sub(b.At) < untaggedWait) {
		res.Waiting++
		s.log.Info("broadcast waits for the tag sync", "broadcast", b.ID, "opted_out_on_tags", optedOut, "untagged", untagged)
		return false, s.release(ctx, b, now.Add(s.cfg.TagSyncWait))
	}
	if untagged > 0 {
		s.log.Warn("broadcast goes without members the tag sync has not reached", "broadcast", b.ID, "untagged", untagged)
	}
	month := MonthOf(now, s.cfg.Zone)
	most, err := s.st.MostDelivered(ctx, month, b.Branches)
	if err != nil {
		return false, fmt.Errorf("read the quota: %w", err)
	}
	if over := s.overQuota(ctx, month, most); over != nil {
		res.Skipped++
		s.log.Warn("broadcast skipped: over the monthly quota", "broadcast", b.ID, "reason", over.Error())
		return false, s.finish(ctx, b, now, StatusSkipped, over.Error())
	}
	sends, err := s.st.PlanSends(ctx, b)
	if err != nil {
		return false, fmt.Errorf("plan sends: %w", err)
	}
	if len(sends) == 0 {
		res.Skipped++
		s.log.Warn("broadcast skipped: no member holds its branches' tags", "broadcast", b.ID)
		return false, s.finish(ctx, b, now, StatusSkipped, "这些分会的会员还没有打上微信标签，没有人可发")
	}
	ok, err := s.st.StartSending(ctx, b.ID, sends)
	if err != nil {
		return false, fmt.Errorf("start sending: %w", err)
	}
	return ok, nil
}

// overQuota is the quota error for the branch whose members got the most
// broadcasts this month, if one more would exceed the limit.
func (s *Scheduler) overQuota(ctx context.Context, month Month, most map[string]int) *QuotaError {
	var worst *QuotaError
	for branch, n := range most {
		if n+1 > s.cfg.Limit && (worst == nil || n > worst.Count || (n == worst.Count && branch < worst.Branch)) {
			worst = &QuotaError{Month: month, Branch: branch, Count: n, Limit: s.cfg.Limit}
		}
	}
	if worst == nil {
		return nil
	}
	if names, err := s.st.BranchNames(ctx); err == nil {
		for _, br := range names {
			if br.ID == worst.Branch && br.Name != "" {
				worst.Branch = br.Name
			}
		}
	}
	return worst
}

// send makes the mass sends not settled yet, each with its clientmsgid, and
// finishes the broadcast once every send is settled.
func (s *Scheduler) send(ctx, wxCtx context.Context, b Broadcast, now time.Time, res *Result) error {
	sends, err := s.st.BroadcastSends(ctx, b.ID)
	if err != nil {
		return fmt.Errorf("read sends: %w", err)
	}
	later := false
	for _, sd := range sends {
		if sd.Settled() {
			continue
		}
		msgID, repeated, err := s.wx.MassSendText(wxCtx, wxapi.MassText{TagID: sd.TagID, Text: b.Text, ClientMsgID: sd.ClientMsgID})
		rctx, rcancel := record(ctx)
		var recErr error
		switch {
		case err == nil:
			recErr = s.st.RecordSent(rctx, b.ID, sd.BranchID, msgID, MonthOf(now, s.cfg.Zone))
			s.log.Info("broadcast sent to a branch tag", "broadcast", b.ID, "branch", sd.BranchID, "msg_id", msgID, "repeated", repeated)
		case retryable(err) && now.Sub(b.At) < giveUpAfter:
			later = true
			s.log.Warn("broadcast send to retry", "broadcast", b.ID, "branch", sd.BranchID, "kind", wxapi.KindOf(err).String(),
				"in_doubt", wxapi.Uncertain(err))
		default:
			code, desc := wxapi.Describe(err, 200)
			problem := fmt.Sprintf("微信拒绝了群发（%d）", code)
			if retryable(err) {
				problem = "24小时内没能发出，不再重试"
			}
			s.log.Warn("broadcast send refused", "broadcast", b.ID, "branch", sd.BranchID, "kind", wxapi.KindOf(err).String(), "error", desc)
			recErr = s.st.RecordRefused(rctx, b.ID, sd.BranchID, problem)
		}
		rcancel()
		if recErr != nil {
			// The claim runs out and the next round sends again with the
			// same clientmsgid: WeChat answers with the job it took.
			return fmt.Errorf("record send: %w", recErr)
		}
	}
	if later {
		res.Waiting++
		return s.release(ctx, b, now.Add(s.backoff(b)))
	}
	if sends, err = s.st.BroadcastSends(ctx, b.ID); err != nil {
		return fmt.Errorf("read sends: %w", err)
	}
	status, reason := StatusSkipped, ""
	for _, sd := range sends {
		if sd.MsgID != 0 {
			status = StatusSent
		} else if reason == "" {
			reason = sd.Error
		}
	}
	if status == StatusSent {
		reason = ""
		res.Sent++
	} else {
		res.Skipped++
	}
	return s.finish(ctx, b, now, status, reason)
}

// finish records the broadcast's end and schedules a recurring one's next
// occurrence in the same transaction.
func (s *Scheduler) finish(ctx context.Context, b Broadcast, now time.Time, status Status, reason string) error {
	var next *Broadcast
	if b.Every != "" {
		at, err := Next(b.Every, b.At, now, s.cfg.Zone)
		if err != nil {
			s.log.Warn("recurring broadcast has no next time", "broadcast", b.ID, "error", err.Error())
		} else {
			n := b
			n.ID, n.At, n.Status, n.SkipReason, n.PreviewError = 0, at, StatusScheduled, "", ""
			if n.SeriesID == 0 {
				n.SeriesID = b.ID
			}
			next = &n
		}
	}
	rctx, cancel := record(ctx)
	defer cancel()
	if _, err := s.st.FinishBroadcast(rctx, b.ID, status, reason, next); err != nil {
		return fmt.Errorf("finish: %w", err)
	}
	if next != nil {
		s.log.Info("recurring broadcast's next occurrence scheduled", "broadcast", b.ID, "at", next.At.In(s.cfg.Zone).Format(time.RFC3339))
	}
	return nil
}

func (s *Scheduler) release(ctx context.Context, b Broadcast, until time.Time) error {
	rctx, cancel := record(ctx)
	defer cancel()
	if err := s.st.ReleaseBroadcast(rctx, b.ID, until); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	return nil
}

// backoff is the wait after b's attempts so far: RetryAfter, doubled each
// attempt, at most MaxRetryAfter.
func (s *Scheduler) backoff(b Broadcast) time.Duration {
	d := s.cfg.RetryAfter
	for i := 1; i < b.Attempts && d < MaxRetryAfter; i++ {
		d *= 2
	}
	return min(d, MaxRetryAfter)
}

// retryable: WeChat may take the same call later (its quota of calls, its
// system error, a timeout, a token problem an operator fixes), or it is
// not known whether it took it.
func retryable(err error) bool {
	if err == nil {
		return false
	}
	if wxapi.Uncertain(err) {
		return true
	}
	switch wxapi.KindOf(err) {
	case wxapi.KindRetryLater, wxapi.KindBadToken:
		return true
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}
