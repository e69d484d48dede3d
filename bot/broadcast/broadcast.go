// Package broadcast schedules policy broadcasts (群发) and keeps them within
// WeChat's quota: a service account's follower receives at most 4 mass
// messages a calendar month, and a send over it fails for them unseen.
//
// A broadcast goes to the members of some branches, or of every branch,
// through each branch's WeChat tag (bot/tagsync keeps members on their
// branch's tag, and a member who opted out on none). The quota is counted
// per member and per calendar month in the bot's time zone, from what was
// sent to them and what is scheduled for their branch; it is checked when
// a broadcast is added and again just before it goes.
package broadcast

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/robfig/cron/v3"
)

// Status is where a broadcast is in its life.
type Status string

const (
	StatusScheduled Status = "scheduled" // waiting for its time
	StatusPreviewed Status = "previewed" // its preview went out; waiting for its time
	StatusSending   Status = "sending"   // its sends are planned; some may not be taken yet
	StatusSent      Status = "sent"      // WeChat took the job of at least one branch
	StatusSkipped   Status = "skipped"   // not sent: the quota, or WeChat refused every send (SkipReason)
	StatusCancelled Status = "cancelled" // cancelled by staff before it went
)

// Pending says whether the broadcast will still go out (and so counts
// against the quota of the month it goes in).
func (s Status) Pending() bool {
	return s == StatusScheduled || s == StatusPreviewed || s == StatusSending
}

// Broadcast is one scheduled broadcast; a recurring one is one Broadcast
// per occurrence, the next inserted when one goes.
type Broadcast struct {
	ID        int64     `db:"id"`
	Text      string    `db:"text"`
	At        time.Time `db:"at"`
	Every     string    `db:"every"` // cron expression, "" for a one-off
	Branches  []string  `db:"-"`     // nil: every branch
	PreviewTo string    `db:"preview_to"`
	Status    Status    `db:"status"`
	// SkipReason says why it was skipped, in the words staff read.
	SkipReason   string    `db:"skip_reason"`
	PreviewError string    `db:"preview_error"`
	SeriesID     int64     `db:"series_id"`
	CreatedBy    string    `db:"created_by"`
	CreatedAt    time.Time `db:"created_at"`
	UpdatedAt    time.Time `db:"updated_at"`
	Attempts     int       `db:"attempts"`

	// Read with the broadcast by the store's listings.
	Sends  []Send `db:"-"`
	Totals Totals `db:"-"`
}

// Send is the mass send of one broadcast to one branch's tag.
type Send struct {
	BranchID    string     `db:"branch_id"`
	TagID       int64      `db:"tag_id"`
	ClientMsgID string     `db:"client_msg_id"`
	MsgID       int64      `db:"msg_id"`
	Error       string     `db:"error"`
	SentAt      *time.Time `db:"sent_at"`
	Totals      Totals     `db:"-"`
}

// Settled says whether nothing is left to do for the send: WeChat took
// it or refused it for good.
func (s Send) Settled() bool { return s.MsgID != 0 || s.Error != "" }

// Totals are WeChat's figures from MASSSENDJOBFINISH: the followers on the
// tag, those left after WeChat's filter (the monthly quota among them),
// those it reached, and its failures. Reports counts the reports behind
// them; 0 means none has come yet.
type Totals struct {
	Total, Filtered, Sent, Errors, Reports int
}

// Add sums two sets of figures.
func (t Totals) Add(o Totals) Totals {
	return Totals{t.Total + o.Total, t.Filtered + o.Filtered, t.Sent + o.Sent, t.Errors + o.Errors, t.Reports + o.Reports}
}

// ClientMsgID is the clientmsgid of a broadcast's send to a tag: the same
// every time it is tried, and unique to the pair, within WeChat's 64 bytes.
func ClientMsgID(broadcastID, tagID int64) string {
	return fmt.Sprintf("nuanjia-b%d-t%d", broadcastID, tagID)
}

// Text limits. WeChat's API documentation gives no limit for a mass text
// message; its console takes at most 600 characters for one, and a text
// of more bytes than a passive reply takes (about 2048, platform notes
// §1.2) is not one to count on either.
const (
	MaxTextRunes = 600
	MaxTextBytes = 2048
)

// CheckText returns the text as it will go (trimmed), or a short error
// saying what is wrong with it.
func CheckText(text string) (string, error) {
	text = strings.TrimSpace(text)
	switch {
	case text == "":
		return "", errors.New("the text is empty")
	case !utf8.ValidString(text):
		return "", errors.New("the text is not valid UTF-8")
	case utf8.RuneCountInString(text) > MaxTextRunes:
		return "", fmt.Errorf("the text has %d characters; a mass text message takes at most %d", utf8.RuneCountInString(text), MaxTextRunes)
	case len(text) > MaxTextBytes:
		return "", fmt.Errorf("the text is %d bytes; a mass text message takes at most %d", len(text), MaxTextBytes)
	}
	return text, nil
}

// cronParser reads the usual five fields (minute hour day month weekday)
// and descriptors such as @monthly; parsing only, no cron runner.
func cronParser() cron.Parser {
	return cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
}

// ParseEvery reads a cron expression.
func ParseEvery(expr string) (cron.Schedule, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, errors.New("empty cron expression")
	}
	if strings.HasPrefix(strings.TrimSpace(expr), "@every") {
		return nil, errors.New("@every is not a calendar schedule; use minute hour day month weekday")
	}
	s, err := cronParser().Parse(expr)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Next is the first time of the expression after both after and notBefore,
// in zone: a recurring broadcast's next occurrence is never in the past.
func Next(every string, after, notBefore time.Time, zone *time.Location) (time.Time, error) {
	s, err := ParseEvery(every)
	if err != nil {
		return time.Time{}, err
	}
	from := after
	if notBefore.After(from) {
		from = notBefore
	}
	next := s.Next(from.In(zone))
	if next.IsZero() {
		return time.Time{}, fmt.Errorf("cron expression %q never fires", every)
	}
	return next, nil
}

// Month is a calendar month in the bot's time zone, as its first day
// (2026-12-01): the unit of WeChat's quota.
type Month struct {
	Year  int
	Month time.Month
}

// MonthOf is the month t falls in, in zone.
func MonthOf(t time.Time, zone *time.Location) Month {
	y, m, _ := t.In(zone).Date()
	return Month{y, m}
}

// Start is the month's first instant in zone.
func (m Month) Start(zone *time.Location) time.Time {
	return time.Date(m.Year, m.Month, 1, 0, 0, 0, 0, zone)
}

// Next is the month after.
func (m Month) Next() Month {
	if m.Month == time.December {
		return Month{m.Year + 1, time.January}
	}
	return Month{m.Year, m.Month + 1}
}

// Date is the month as the store keeps it: its first day, "2026-12-01".
func (m Month) Date() string { return fmt.Sprintf("%04d-%02d-01", m.Year, int(m.Month)) }

// String is the month as staff read it: "2026年12月".
func (m Month) String() string { return fmt.Sprintf("%d年%d月", m.Year, int(m.Month)) }

// CheckedMonths is how many calendar months of a recurring broadcast's
// occurrences are checked against the quota when it is added: its first
// month and the two after it.
const CheckedMonths = 3

// Months are the months a broadcast is checked in when added: its own, or
// for a recurring one CheckedMonths from its first.
func Months(b Broadcast, zone *time.Location) []Month {
	first := MonthOf(b.At, zone)
	if b.Every == "" {
		return []Month{first}
	}
	out := []Month{first}
	for len(out) < CheckedMonths {
		out = append(out, out[len(out)-1].Next())
	}
	return out
}

// Occurrences counts the times a broadcast goes out in month m: its own
// time, and for a recurring one every later time of its expression.
func Occurrences(b Broadcast, m Month, zone *time.Location) int {
	start, end := m.Start(zone), m.Next().Start(zone)
	n := 0
	if !b.At.Before(start) && b.At.Before(end) {
		n++
	}
	if b.Every == "" {
		return n
	}
	s, err := ParseEvery(b.Every)
	if err != nil {
		return n
	}
	t := b.At.In(zone)
	if t.Before(start) {
		// The last occurrence before the month, or near enough: Next from
		// a minute before start finds the month's first.
		t = start.Add(-time.Minute)
	}
	for i := 0; i < 50000; i++ { // every minute of a month is ~44,640
		t = s.Next(t)
		if t.IsZero() || !t.Before(end) {
			break
		}
		if !t.Before(start) {
			n++
		}
	}
	return n
}

// BranchName is a branch as the quota message names it.
type BranchName struct {
	ID, Name string
}

// QuotaState is what the quota of some months depends on.
type QuotaState struct {
	// Branches are every branch, with the short names members use
	// (新州镇计生协); a broadcast to every branch is for each of them.
	Branches []BranchName
	// Delivered is, per month and branch, the most broadcasts any one
	// member of the branch has received that month.
	Delivered map[Month]map[string]int
	// Pending are the broadcasts still to go out, with their recurrences.
	Pending []Broadcast
}

// QuotaError is a broadcast refused because it would take members past
// the monthly limit.
type QuotaError struct {
	Month  Month
	Branch string // the branch's short name
	Count  int    // what its members already have that month, sent and scheduled
	Limit  int
	Own    int // how often the refused broadcast itself goes that month
}

func (e *QuotaError) Error() string {
	msg := fmt.Sprintf("%s %s的会员已有%d条群发，上限%d条", e.Month, e.Branch, e.Count, e.Limit)
	if e.Own > 1 {
		msg += fmt.Sprintf("，这条当月要发%d次", e.Own)
	}
	return msg
}

// audience is the branches a broadcast goes to.
func audience(b Broadcast, all []BranchName) []string {
	if len(b.Branches) > 0 {
		return b.Branches
	}
	ids := make([]string, len(all))
	for i, br := range all {
		ids[i] = br.ID
	}
	return ids
}

// CheckQuota refuses b (with a *QuotaError naming the month and branch)
// when, in any of months, some member of its audience would get more than
// limit broadcasts: what they received, what is scheduled for them, and
// b's own occurrences. The branch with the most is named.
func CheckQuota(b Broadcast, limit int, months []Month, st QuotaState, zone *time.Location) error {
	names := make(map[string]string, len(st.Branches))
	for _, br := range st.Branches {
		names[br.ID] = br.Name
	}
	for _, m := range months {
		own := Occurrences(b, m, zone)
		if own == 0 {
			continue
		}
		var worst *QuotaError
		for _, branch := range audience(b, st.Branches) {
			count := st.Delivered[m][branch]
			for _, p := range st.Pending {
				if p.ID != b.ID && p.Status.Pending() && reaches(p, branch) {
					count += Occurrences(p, m, zone)
				}
			}
			if count+own > limit && (worst == nil || count > worst.Count) {
				name := names[branch]
				if name == "" {
					name = branch
				}
				worst = &QuotaError{Month: m, Branch: name, Count: count, Limit: limit, Own: own}
			}
		}
		if worst != nil {
			return worst
		}
	}
	return nil
}

// reaches says whether a broadcast is for a branch's members.
func reaches(b Broadcast, branch string) bool {
	if len(b.Branches) == 0 {
		return true
	}
	for _, id := range b.Branches {
		if id == branch {
			return true
		}
	}
	return false
}
