package bot

import (
	"context"
	"time"
)

// Members' control over their data: leaving the account, and erasing what
// the association holds about them.

// ConsentVersion names the consent text members are asked (handlers'
// consent question). Change it with the text: every member is asked again,
// and an answer to an older text no longer counts as consent.
const ConsentVersion = "2026-12"

// Profile is what a member keeps about themselves.
type Profile struct {
	MemberNo  *int64     `db:"member_no" json:"member_no"`
	BranchID  *string    `db:"branch_id" json:"branch_id"`
	Phone     string     `db:"phone" json:"phone"`
	Hometown  string     `db:"hometown" json:"hometown"`
	City      string     `db:"city" json:"city"`
	Consent   *bool      `db:"consent" json:"consent"`
	Version   string     `db:"consent_version" json:"consent_version"`
	ConsentAt *time.Time `db:"consent_at" json:"consent_at"`
}

// Profile fields a member sets (SetProfile).
const (
	FieldPhone    = "phone"
	FieldHometown = "hometown"
	FieldCity     = "city"
)

// IntentUnsubscribe serves WeChat's unsubscribe event; no member types it,
// and the understanding layer never reads it.
const IntentUnsubscribe Intent = "unsubscribe"

// Reasons an outbox row was cancelled.
const (
	CancelUnsubscribed = "unsubscribed" // the member stopped following
	CancelErased       = "erased"       // the member's data was erased
)

// AuditErase is the audit log's record of an erasure: by the member
// (forget), by staff (nuanjia member erase, with the reason as detail) or
// by the retention job after the member left.
const AuditErase = "erase"

// ActorErased replaces a member's openid as the actor of their case
// actions once they are erased.
const ActorErased = "erased"

// Erasure is what erasing a member removed, in counts: what the member
// and staff are told, and what the retention job logs.
type Erasure struct {
	Messages  int // member messages whose text, place and media were blanked
	Sent      int // messages to them (and alerts about them) blanked
	Cancelled int // pending messages cancelled
	Cases     int // cases kept for statistics with the link to them removed
	Evidence  int // photos, voice and files deleted
}

// MemberBook is the member data inside the transaction handling a push:
// what a handler changes commits with the push's handled mark, or not at
// all.
type MemberBook interface {
	// Unsubscribed records that the member stopped following at at, and
	// cancels every pending message to them (CancelUnsubscribed). It
	// returns how many were cancelled.
	Unsubscribed(ctx context.Context, openID string, at time.Time) (int, error)
	// Resubscribed records that they follow again: they are no longer due
	// for erasure.
	Resubscribed(ctx context.Context, openID string) error
	// Erase blanks the member's messages, the messages to them and the
	// texts of their cases, deletes their evidence, conversations and
	// corrections, closes their open case, and keeps each case's category,
	// branch and dates with the link to them removed.
	Erase(ctx context.Context, openID string) (Erasure, error)
	// ConsentAsked records that the member was asked consent text version.
	ConsentAsked(ctx context.Context, openID, version string) error
	// SetConsent records the member's answer to consent text version. A
	// refusal or withdrawal also drops what only consent allowed: the
	// profile's phone, hometown and city, the coordinates of their
	// location messages, and phone numbers in their messages' texts.
	SetConsent(ctx context.Context, openID string, agree bool, version string, at time.Time) error
	// Profile is what is stored about the member (MemberNo 0: none yet).
	Profile(ctx context.Context, openID string) (Profile, error)
	// ProfileByNo is the profile of the member with member number no,
	// for a director's 会员 N.
	ProfileByNo(ctx context.Context, no int64) (openID string, p Profile, found bool, err error)
	// SetProfile sets one profile field (FieldPhone…).
	SetProfile(ctx context.Context, openID, field, value string) error
	// SetBranch makes branchID the member's branch.
	SetBranch(ctx context.Context, openID, branchID string) error
	// Minimise keeps of a stored message (its id) only what a member who
	// has not consented allows: text is what the row should hold (phone
	// numbers masked), and its coordinates are dropped.
	Minimise(ctx context.Context, messageID int64, text string) error
}
