// Package tagsync keeps one WeChat user tag per branch on the branch's
// followers, so a broadcast can reach a branch's members through its tag.
//
// It is a reconciler: the database says which branch each member belongs
// to and which branch's tag WeChat holds for them; a round claims members
// whose two differ, makes WeChat's tags match, and records what WeChat now
// holds. A crash, a failed call or a retry leaves members due, and the next
// round (in this process or another) finishes the work; WeChat's tagging
// and untagging are idempotent, and a branch's tag is found again by its
// name rather than created twice.
package tagsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"nuanjia/bot/wxapi"
)

// Branch is a branch as the sync names and tags it.
type Branch struct {
	ID, Name string
	TagID    int64 // WeChat's id of its tag; 0 until one is recorded
}

// Move is claimed members who all need the same change at WeChat: off the
// tag of branch From, onto the tag of branch To.
type Move struct {
	From    string // the branch whose tag WeChat holds for them; "" for none
	FromTag int64  // From's tag; 0 when there is nothing to untag
	To      string // the branch they belong to; "" when they should hold none
	ToTag   int64  // To's tag; 0 when it is not created yet
	OpenIDs []string
}

// Store is the members' and branches' tag records as the sync needs them;
// *store.Store is one.
type Store interface {
	// TagBranches lists every branch with its recorded tag.
	TagBranches(ctx context.Context) ([]Branch, error)
	// RecordBranchTag records tagID as the branch's tag unless it has one
	// already, and returns the one it has now.
	RecordBranchTag(ctx context.Context, branchID string, tagID int64) (int64, error)
	// ForgetBranchTag drops the branch's tag if it is still tagID (WeChat
	// no longer has it), and with it the record that members hold it.
	ForgetBranchTag(ctx context.Context, branchID string, tagID int64) error
	// ClearUnfollowedTags forgets the tags of members who unfollowed:
	// WeChat dropped them itself. It returns how many there were.
	ClearUnfollowedTags(ctx context.Context) (int, error)
	// TagsToSync claims up to limit members whose tags are out of step,
	// for lease, grouped into moves. A claimed member is not claimed again
	// until the lease ends or their outcome is recorded.
	TagsToSync(ctx context.Context, limit int, lease time.Duration) ([]Move, error)
	// MarkTagsSynced records that WeChat holds branchID's tag ("": none)
	// for the members and ends their claim. A member whose branch changed
	// meanwhile stays due.
	MarkTagsSynced(ctx context.Context, openIDs []string, branchID string) error
	// RetryTags leaves the members due again after the wait.
	RetryTags(ctx context.Context, openIDs []string, after time.Duration) error
}

// Client is the WeChat API as the sync needs it; *wxapi.Client is one.
type Client interface {
	Tags(ctx context.Context) ([]wxapi.Tag, error)
	CreateTag(ctx context.Context, name string) (int64, error)
	TagMembers(ctx context.Context, tagID int64, openIDs []string) error
	UntagMembers(ctx context.Context, tagID int64, openIDs []string) error
}

// Config holds the sync's sizes and timings; zero values take the
// defaults below.
type Config struct {
	// Batch is the most members claimed at once; a round claims again
	// while its claims come back full.
	Batch int
	// Lease is how long a claim keeps members from other rounds. The
	// WeChat calls of one claim must finish well inside it: they get half.
	Lease time.Duration
	// RetryAfter is how long members wait after a failed call.
	RetryAfter time.Duration
}

// Defaults for Config.
const (
	DefaultBatch      = 500
	DefaultLease      = 2 * time.Minute
	DefaultRetryAfter = time.Minute
)

func (c Config) withDefaults() Config {
	if c.Batch <= 0 {
		c.Batch = DefaultBatch
	}
	if c.Lease <= 0 {
		c.Lease = DefaultLease
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = DefaultRetryAfter
	}
	return c
}

// WeChat's errcodes the sync acts on. (45157, not 45159, is tags/create's
// "name taken"; 45159 is an unknown tag id.)
const (
	errTagNameTaken = 45157 // tags/create: another tag has the name
	errNoSuchTag    = 45159 // (un)tagging: the tag id is not (or no longer) the account's
)

// recordTimeout bounds recording an outcome; it runs on a context of its
// own so a stopping process still records what WeChat did.
const recordTimeout = 5 * time.Second

// Syncer runs sync rounds. It is safe for concurrent use, and several
// processes may run one each.
type Syncer struct {
	cfg Config
	st  Store
	wx  Client
	log *slog.Logger
}

// New returns a Syncer; log may be nil.
func New(cfg Config, st Store, wx Client, log *slog.Logger) *Syncer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Syncer{cfg: cfg.withDefaults(), st: st, wx: wx, log: log}
}

// Result counts what a round did.
type Result struct {
	Tagged      int // members given their branch's tag
	Untagged    int // members taken off a tag and given none
	Unfollowed  int // records cleared for members who unfollowed
	TagsCreated int // tags created at WeChat
	TagsFound   int // tags found at WeChat by name and recorded
	Failed      int // members left due after a failed call
}

func (r Result) any() bool {
	return r.Tagged+r.Untagged+r.Unfollowed+r.TagsCreated+r.TagsFound+r.Failed > 0
}

// Round syncs the members due now. WeChat's failures leave their members
// due and are counted, not returned; the error is the store's.
func (s *Syncer) Round(ctx context.Context) (Result, error) {
	var res Result
	n, err := s.st.ClearUnfollowedTags(ctx)
	if err != nil {
		return res, fmt.Errorf("clear unfollowed tags: %w", err)
	}
	res.Unfollowed = n
	r := &round{Syncer: s, res: &res}
	for ctx.Err() == nil {
		moves, err := s.st.TagsToSync(ctx, s.cfg.Batch, s.cfg.Lease)
		if err != nil {
			return res, fmt.Errorf("claim members for tags: %w", err)
		}
		claimed := 0
		for _, m := range moves {
			claimed += len(m.OpenIDs)
		}
		if claimed == 0 {
			break
		}
		if err := r.apply(ctx, moves); err != nil {
			return res, err
		}
		if claimed < s.cfg.Batch {
			break
		}
	}
	if res.any() {
		s.log.Info("tag sync", "tagged", res.Tagged, "untagged", res.Untagged, "unfollowed", res.Unfollowed,
			"tags_created", res.TagsCreated, "tags_found", res.TagsFound, "failed", res.Failed)
	}
	return res, nil
}

// round is one Round's state: the branches and WeChat's tags, each read
// once when first needed.
type round struct {
	*Syncer
	res      *Result
	branches []Branch
	names    map[string]string
	tags     []wxapi.Tag
	haveTags bool
}

// apply makes WeChat hold what one claim's moves say, and records it.
func (r *round) apply(ctx context.Context, moves []Move) error {
	// WeChat's calls get half the lease, so the claim outlives them.
	wxCtx, cancel := context.WithTimeout(ctx, r.cfg.Lease/2)
	defer cancel()
	rec := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	}
	for _, m := range moves {
		err := r.move(wxCtx, m)
		rctx, rcancel := rec()
		switch {
		case err == nil:
			if err := r.st.MarkTagsSynced(rctx, m.OpenIDs, m.To); err != nil {
				rcancel()
				return fmt.Errorf("record tags: %w", err)
			}
			if m.To != "" {
				r.res.Tagged += len(m.OpenIDs)
			} else {
				r.res.Untagged += len(m.OpenIDs)
			}
		default:
			r.res.Failed += len(m.OpenIDs)
			r.logFailure(m, err)
			if err := r.st.RetryTags(rctx, m.OpenIDs, r.cfg.RetryAfter); err != nil {
				rcancel()
				return fmt.Errorf("record tag retry: %w", err)
			}
		}
		rcancel()
	}
	return nil
}

// move takes the members off From's tag and puts them on To's. Untagging
// first means a failure in between leaves them on no branch's tag rather
// than on two: a broadcast then misses them, it never reaches them twice.
func (r *round) move(ctx context.Context, m Move) error {
	if m.FromTag != 0 {
		err := r.wx.UntagMembers(ctx, m.FromTag, m.OpenIDs)
		if code(err) == errNoSuchTag {
			// Deleted at WeChat (by hand, in the platform's console), and
			// with it from every follower. The branch gets a new one.
			if err := r.forget(ctx, m.From, m.FromTag); err != nil {
				return err
			}
			err = nil
		}
		if err != nil {
			return err
		}
	}
	if m.To == "" {
		return nil
	}
	tag := m.ToTag
	if tag == 0 {
		var err error
		if tag, err = r.tagOf(ctx, m.To); err != nil {
			return err
		}
	}
	err := r.wx.TagMembers(ctx, tag, m.OpenIDs)
	if code(err) == errNoSuchTag {
		if ferr := r.forget(ctx, m.To, tag); ferr != nil {
			return ferr
		}
	}
	return err
}

// forget drops a branch's tag that WeChat no longer has.
func (r *round) forget(ctx context.Context, branchID string, tagID int64) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := r.st.ForgetBranchTag(rctx, branchID, tagID); err != nil {
		return fmt.Errorf("forget branch tag: %w", err)
	}
	r.log.Warn("branch tag gone at wechat; a new one will be made", "branch", branchID, "tag_id", tagID)
	for i := range r.branches {
		if r.branches[i].ID == branchID && r.branches[i].TagID == tagID {
			r.branches[i].TagID = 0
		}
	}
	return nil
}

// tagOf returns the branch's tag, recording one first if it has none: the
// tag WeChat already has under the branch's name (made by a round that
// crashed before recording it, or by another process just now), or else
// a new one.
func (r *round) tagOf(ctx context.Context, branchID string) (int64, error) {
	if r.branches == nil {
		bs, err := r.st.TagBranches(ctx)
		if err != nil {
			return 0, fmt.Errorf("list branches: %w", err)
		}
		r.branches, r.names = bs, TagNames(bs)
	}
	var b *Branch
	for i := range r.branches {
		if r.branches[i].ID == branchID {
			b = &r.branches[i]
		}
	}
	if b == nil {
		return 0, fmt.Errorf("branch %s is not in the knowledge base", branchID)
	}
	if b.TagID != 0 {
		return b.TagID, nil
	}
	name := r.names[branchID]
	id, err := r.findTag(ctx, name, false)
	if err != nil {
		return 0, err
	}
	created := false
	if id == 0 {
		id, err = r.wx.CreateTag(ctx, name)
		switch {
		case code(err) == errTagNameTaken:
			// Created between our look and our call, most likely by
			// another process syncing the same branch.
			if id, err = r.findTag(ctx, name, true); err == nil && id == 0 {
				err = fmt.Errorf("branch %s: its tag name is taken by another branch's tag", branchID)
			}
		case err == nil:
			created = true
			r.tags = append(r.tags, wxapi.Tag{ID: id, Name: name})
		}
		if err != nil {
			return 0, err
		}
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	recorded, err := r.st.RecordBranchTag(rctx, branchID, id)
	if err != nil {
		return 0, fmt.Errorf("record branch tag: %w", err)
	}
	b.TagID = recorded
	if recorded == id && created {
		r.res.TagsCreated++
	} else if recorded == id {
		r.res.TagsFound++
	}
	return recorded, nil
}

// findTag returns the id of WeChat's tag called name that no other branch
// has recorded, 0 if there is none. It lists WeChat's tags once a round,
// and again when fresh is set.
func (r *round) findTag(ctx context.Context, name string, fresh bool) (int64, error) {
	if !r.haveTags || fresh {
		tags, err := r.wx.Tags(ctx)
		if err != nil {
			return 0, err
		}
		r.tags, r.haveTags = tags, true
	}
	owned := map[int64]bool{}
	for _, b := range r.branches {
		if b.TagID != 0 {
			owned[b.TagID] = true
		}
	}
	for _, t := range r.tags {
		if t.Name == name && !owned[t.ID] {
			return t.ID, nil
		}
	}
	return 0, nil
}

// logFailure writes one line for members left due: the branches, WeChat's
// errcode and the error's kind; never a name or what WeChat echoed.
func (r *round) logFailure(m Move, err error) {
	attrs := []any{"from", m.From, "to", m.To, "members", len(m.OpenIDs), "kind", wxapi.KindOf(err).String()}
	var we *wxapi.Error
	switch {
	case errors.As(err, &we) && we.Status != 0:
		attrs = append(attrs, "api", we.API, "http_status", we.Status)
	case errors.As(err, &we):
		attrs = append(attrs, "api", we.API, "errcode", we.Code)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		attrs = append(attrs, "error", "out of time")
	default:
		// Our own errors and the store's carry no member data.
		attrs = append(attrs, "error", err.Error())
	}
	r.log.Warn("tag sync left members due", attrs...)
}

// code is WeChat's errcode in err, 0 for none.
func code(err error) int {
	var we *wxapi.Error
	if errors.As(err, &we) && we.Status == 0 {
		return we.Code
	}
	return 0
}
