package bot

import (
	"context"
	"fmt"
	"time"
)

// A visit is a director calling on a member at home (上门访视, 婚育信息核对,
// 孕环情检查, 返乡走访…). A member asks for one (requested), a director
// books or confirms it (confirmed), and it ends done, missed or cancelled.
// A confirmed visit has one reminder row per offset before it, so each
// reminder is written once and never recomputed.

// Visit statuses.
const (
	VisitRequested = "requested"
	VisitConfirmed = "confirmed"
	VisitDone      = "done"
	VisitMissed    = "missed"
	VisitCancelled = "cancelled"
)

// Reminder statuses.
const (
	ReminderPending   = "pending"
	ReminderSent      = "sent"
	ReminderSkipped   = "skipped"   // not sent, and never will be: Reason says why
	ReminderCancelled = "cancelled" // the visit was changed or cancelled
)

// Why a reminder was skipped or cancelled (its reason).
const (
	ReasonPastAtBooking = "past_at_booking" // its time had passed when the visit was booked
	ReasonSameTime      = "same_time"       // quiet hours moved it onto another reminder of the visit
	ReasonRescheduled   = "rescheduled"     // the visit moved; new reminders replace it
	ReasonVisitCancel   = "visit_cancelled" // the visit was cancelled
	ReasonVisitDone     = "visit_done"      // the visit happened already
	ReasonUnconfirmed   = "unconfirmed"     // the visit is waiting for a director again
	ReasonUnreachable   = "unreachable"     // outside the 48-hour window and no template configured
	ReasonUnsubscribed  = "unsubscribed"    // the member stopped following
	ReasonErased        = "erased"          // the member's data was erased
)

// Outbox kinds of visit messages.
const (
	KindVisit         = "visit"    // a visit request, change or notice, to a director or the member
	KindVisitReminder = "reminder" // a member's reminder before their visit
	KindVisitDigest   = "visit_digest"
)

// BookedByMember is a visit's BookedBy when the member asked for it; a
// director's openid or "staff:<name>" otherwise.
const BookedByMember = "member"

// Visit is one visit as the visit book holds it.
type Visit struct {
	ID        int64     `db:"id" json:"-"`
	Number    int64     `db:"number" json:"number"`
	OpenID    string    `db:"openid" json:"openid"` // "" once the member is erased
	MemberNo  int64     `db:"member_no" json:"member_no"`
	BranchID  string    `db:"branch_id" json:"branch"`
	At        time.Time `db:"at" json:"at"`
	Purpose   string    `db:"purpose" json:"purpose"`
	Status    string    `db:"status" json:"status"`
	BookedBy  string    `db:"booked_by" json:"booked_by"`
	Note      string    `db:"note" json:"note,omitempty"` // the director's record after the visit
	CreatedAt time.Time `db:"created_at" json:"created_at"`
	UpdatedAt time.Time `db:"updated_at" json:"updated_at"`
}

// Open reports whether the visit is still ahead of everyone: requested or
// confirmed.
func (v Visit) Open() bool { return v.Status == VisitRequested || v.Status == VisitConfirmed }

// NewVisit is what booking a visit needs.
type NewVisit struct {
	OpenID   string
	BranchID string
	At       time.Time
	Purpose  string
	Status   string // VisitRequested or VisitConfirmed
	BookedBy string
}

// VisitQuery selects visits for a list or a digest.
type VisitQuery struct {
	Branches []string  // nil: every branch
	Statuses []string  // nil: every status
	From, To time.Time // At in [From, To); zero: unbounded
	Limit    int       // 0: no limit
}

// Reminder is one reminder of a visit as planned: its offset as
// configured ("-24h"), when it is due, and whether it waits (pending) or
// was skipped at planning (Reason says why).
type Reminder struct {
	Offset string    `db:"offset_label"`
	Due    time.Time `db:"due_at"`
	Status string    `db:"status"`
	Reason string    `db:"reason"`
	// Delivery is its outbox row's status once sent (sent, failed…), and
	// Report WeChat's word on a template ("success", "failed:user block").
	Delivery string `db:"delivery"`
	Report   string `db:"report"`
}

// DueReminder is a pending reminder whose time has come, claimed by a
// scheduler round, with what writing it needs.
type DueReminder struct {
	ID     int64
	Offset string
	Due    time.Time
	Visit  Visit
	// The member's customer-service window and whether they still follow.
	LastInboundAt *time.Time
	Subscribed    bool
}

// ReminderPlan turns a visit's time into its reminders: one per offset
// before the visit, none in quiet hours (moved to their end, the
// morning), none already past.
type ReminderPlan struct {
	Offsets []time.Duration // VISIT_REMINDERS, each negative: before the visit
	// QuietFrom and QuietTo are times of day since midnight in Zone
	// (VISIT_QUIET_HOURS); equal means no quiet hours. From after To spans
	// midnight (21:00–08:00).
	QuietFrom, QuietTo time.Duration
	Zone               *time.Location
}

// Plan is the reminders of a visit at at, planned at now. A reminder
// falling in quiet hours moves to their end (08:00); if that is not
// before the visit, it moves back to their start (21:00 the evening
// before) instead. One whose time has passed at now is skipped, not sent
// late; one that lands on the time of an earlier one is skipped too.
func (p ReminderPlan) Plan(at, now time.Time) []Reminder {
	out := make([]Reminder, 0, len(p.Offsets))
	seen := map[int64]bool{}
	for _, off := range p.Offsets {
		r := Reminder{Offset: OffsetLabel(off), Due: p.outOfQuiet(at.Add(off), at), Status: ReminderPending}
		switch {
		case !r.Due.After(now):
			r.Status, r.Reason = ReminderSkipped, ReasonPastAtBooking
		case seen[r.Due.Unix()]:
			r.Status, r.Reason = ReminderSkipped, ReasonSameTime
		}
		if r.Status == ReminderPending {
			seen[r.Due.Unix()] = true
		}
		out = append(out, r)
	}
	return out
}

// outOfQuiet moves t out of quiet hours: to their end when that is still
// before the visit at, else to their start.
func (p ReminderPlan) outOfQuiet(t, at time.Time) time.Time {
	if p.QuietFrom == p.QuietTo {
		return t
	}
	zone := p.Zone
	if zone == nil {
		zone = time.UTC
	}
	local := t.In(zone)
	midnight := time.Date(local.Year(), local.Month(), local.Day(), 0, 0, 0, 0, zone)
	tod := local.Sub(midnight)
	var start, end time.Time // the quiet period t is in
	switch {
	case p.QuietFrom > p.QuietTo && tod >= p.QuietFrom: // 22:00, quiet until tomorrow 08:00
		start, end = midnight.Add(p.QuietFrom), midnight.AddDate(0, 0, 1).Add(p.QuietTo)
	case p.QuietFrom > p.QuietTo && tod < p.QuietTo: // 06:00, quiet since yesterday 21:00
		start, end = midnight.AddDate(0, 0, -1).Add(p.QuietFrom), midnight.Add(p.QuietTo)
	case p.QuietFrom < p.QuietTo && tod >= p.QuietFrom && tod < p.QuietTo: // 12:00–14:00
		start, end = midnight.Add(p.QuietFrom), midnight.Add(p.QuietTo)
	default:
		return t
	}
	if end.Before(at) {
		return end
	}
	return start
}

// OffsetLabel is an offset as VISIT_REMINDERS writes it: "-24h", "-2h",
// "-30m", "-1h30m".
func OffsetLabel(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case m == 0:
		return fmt.Sprintf("%s%dh", sign, h)
	case h == 0:
		return fmt.Sprintf("%s%dm", sign, m)
	}
	return fmt.Sprintf("%s%dh%dm", sign, h, m)
}

// VisitBook is the visit book inside one transaction (a push's handling,
// or a command-line change): what a handler writes commits with the
// push's handled mark and its outbox rows, or not at all. Methods that
// read a visit for changing it lock it.
type VisitBook interface {
	// BookVisit books a visit, giving the member a member number if they
	// have none.
	BookVisit(ctx context.Context, nv NewVisit) (Visit, error)
	// VisitByNumber finds a visit by its number.
	VisitByNumber(ctx context.Context, number int64) (Visit, bool, error)
	// MemberVisit is the member's soonest open visit (requested or
	// confirmed), if any.
	MemberVisit(ctx context.Context, openID string) (Visit, bool, error)
	// SaveVisit writes a visit's branch, time, purpose, status and note.
	SaveVisit(ctx context.Context, v Visit) error
	// SetReminders cancels the visit's pending reminders (rescheduled) and
	// writes rs in their place.
	SetReminders(ctx context.Context, visitID int64, rs []Reminder) error
	// DropReminders cancels the visit's pending reminders with reason, and
	// returns how many.
	DropReminders(ctx context.Context, visitID int64, reason string) (int, error)
	// FindVisits lists visits, soonest first.
	FindVisits(ctx context.Context, q VisitQuery) ([]Visit, error)
}

// VisitClock is the visit book as the scheduler sees it, inside one
// transaction: DueReminders locks the reminders it returns, skipping those
// another process holds, so every reminder is written once.
type VisitClock interface {
	Cases
	// DueReminders claims up to limit pending reminders due at now, oldest
	// first.
	DueReminders(ctx context.Context, now time.Time, limit int) ([]DueReminder, error)
	// SendReminders writes sends[i] to the outbox and marks reminder
	// ids[i] sent, all in one statement.
	SendReminders(ctx context.Context, ids []int64, sends []Send) error
	// SkipReminder marks the reminder skipped (or cancelled, for a visit
	// no longer confirmed) with reason.
	SkipReminder(ctx context.Context, id int64, status, reason string) error
	// ClaimDigest records that director gets day's digest; false when it
	// was already recorded.
	ClaimDigest(ctx context.Context, director string, day time.Time) (bool, error)
	// MarkMissed marks open visits whose time is before before as missed,
	// their pending reminders cancelled, and returns how many.
	MarkMissed(ctx context.Context, before time.Time) (int, error)
}
