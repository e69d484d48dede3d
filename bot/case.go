package bot

import (
	"context"
	"errors"
	"time"
)

// A case is a member's request in front of a person: a help request, or a
// question the bot could not answer. It belongs to a branch, is accepted
// by one of that branch's directors, and is closed with the member's
// rating. Everything that happens to it is an action in its log.

// Case kinds.
const (
	CaseHelp     = "help"     // the member asked for help
	CaseQuestion = "question" // the bot could not answer; a person reads it
)

// Case statuses: open → accepted → closed; a closed case can be reopened.
const (
	CaseOpen     = "open"
	CaseAccepted = "accepted"
	CaseClosed   = "closed"
)

// Case categories, read from the member's words.
const (
	CategoryWages      = "wages"      // 欠薪
	CategoryInjury     = "injury"     // 工伤、疾病
	CategorySchool     = "school"     // 子女上学
	CategoryRights     = "rights"     // 维权、暴力
	CategoryLivelihood = "livelihood" // 生意、生计
	CategoryDocuments  = "documents"  // 证件
	CategoryFamily     = "family"     // 家庭、婚育
	CategoryOther      = "other"
)

// Actions in a case's log. The log is append-only.
const (
	ActionOpened    = "opened"    // the case was opened from a member's message
	ActionMessage   = "message"   // the member added a message
	ActionEvidence  = "evidence"  // a photo, voice or file was attached
	ActionAlerted   = "alerted"   // directors were alerted
	ActionAccepted  = "accepted"  // a director took it
	ActionNote      = "note"      // a director's private note
	ActionReply     = "reply"     // a director's reply to the member
	ActionRelayed   = "relayed"   // the member's message was passed to the assignee
	ActionMoved     = "moved"     // moved to another branch
	ActionClosed    = "closed"    // closed, with the director's words
	ActionReopened  = "reopened"  // reopened
	ActionEscalated = "escalated" // the county directors were told (not accepted in time, or nobody reachable)
	ActionReminded  = "reminded"  // the assignee was reminded to reply
	ActionUnreached = "unreached" // no alert reached a director of its branch
	ActionRated     = "rated"     // the member rated the close
	ActionCorrected = "corrected" // a director said what the member meant
)

// Actors that are not a person's openid.
const ActorBot = "bot"

// Case is one case as the case book holds it.
type Case struct {
	ID       int64  `db:"id" json:"-"`
	Number   int64  `db:"number" json:"number"`
	OpenID   string `db:"openid" json:"openid"`
	MemberNo int64  `db:"member_no" json:"member_no"`
	BranchID string `db:"branch_id" json:"branch"`
	Category string `db:"category" json:"category"`
	Urgent   bool   `db:"urgent" json:"urgent"`
	Kind     string `db:"kind" json:"kind"`
	Status   string `db:"status" json:"status"`
	Assignee string `db:"assignee" json:"assignee,omitempty"` // the accepting director's openid
	Summary  string `db:"summary" json:"summary"`             // the member's words that opened it
	Rating   int    `db:"rating" json:"rating,omitempty"`     // 1 满意, 2 不满意, 0 not rated

	CreatedAt   time.Time  `db:"created_at" json:"created_at"`
	UpdatedAt   time.Time  `db:"updated_at" json:"updated_at"`
	AcceptedAt  *time.Time `db:"accepted_at" json:"accepted_at,omitempty"`
	ClosedAt    *time.Time `db:"closed_at" json:"closed_at,omitempty"`
	LastReplyAt *time.Time `db:"last_reply_at" json:"last_reply_at,omitempty"` // a director's last reply to the member

	// When the clock did its one-off work: the first alert of a question
	// (questions are alerted in batches), the county told that it was not
	// accepted in time, the assignee reminded to reply, the county told
	// that no alert reached the branch.
	AlertedAt   *time.Time `db:"alerted_at" json:"-"`
	EscalatedAt *time.Time `db:"escalated_at" json:"-"`
	RemindedAt  *time.Time `db:"reminded_at" json:"-"`
	UnreachedAt *time.Time `db:"unreached_at" json:"-"`
}

// CaseAction is one line of a case's log.
type CaseAction struct {
	CaseID int64     `db:"case_id" json:"-"`
	Action string    `db:"action" json:"action"`
	Actor  string    `db:"actor" json:"actor"` // an openid, or ActorBot
	Text   string    `db:"text" json:"text,omitempty"`
	At     time.Time `db:"at" json:"at"`
}

// Evidence is a photo, voice, video or file a member sent about a case.
// WeChat keeps the media for 3 days; the bot fetches a copy before then.
type Evidence struct {
	ID        int64     `db:"id" json:"-"`
	CaseID    int64     `db:"case_id" json:"-"`
	MessageID int64     `db:"message_id" json:"-"`
	Kind      string    `db:"kind" json:"kind"` // TypeImage, TypeVoice, TypeVideo, TypeShortVideo, TypeFile
	MediaID   string    `db:"media_id" json:"media_id,omitempty"`
	At        time.Time `db:"at" json:"at"`           // when the member sent it
	Expires   time.Time `db:"expires" json:"-"`       // when WeChat's copy goes
	Size      int       `db:"size" json:"size"`       // bytes of the bot's copy; 0 until fetched
	Fetched   bool      `db:"fetched" json:"fetched"` // the bot holds a copy
}

// MediaLifetime is how long WeChat keeps a pushed MediaId.
const MediaLifetime = 72 * time.Hour

// Conversation is what the bot waits for from someone: the description
// after a bare "求助", a rating after a close, a director's confirmation
// before relaying a plain message. One per person and topic.
type Conversation struct {
	OpenID string    `db:"openid"`
	Topic  string    `db:"topic"` // TopicMember or TopicDirector
	State  string    `db:"state"`
	CaseID int64     `db:"case_id"` // 0 for none
	Text   string    `db:"text"`    // a director's message waiting for "1"
	Until  time.Time `db:"until"`
}

// Conversation topics: a director also keeps a member's experience.
const (
	TopicMember   = "member"
	TopicDirector = "director"
)

// NewCase is what opening a case needs.
type NewCase struct {
	OpenID   string
	BranchID string
	Category string
	Urgent   bool
	Kind     string
	Summary  string
	// MessageID is the push that opened it (its stored id); media the
	// member sent shortly before is attached too.
	MessageID int64
	At        time.Time
}

// ErrCaseOpen is OpenCase's refusal when the member already has a case
// that is not closed; that case comes with it. The transaction stays
// usable: what the member sent can be added to the case they have.
var ErrCaseOpen = errors.New("the member already has an open case")

// CaseQuery selects cases for a director's list or a report.
type CaseQuery struct {
	Branches []string  // nil: every branch
	Statuses []string  // nil: every status
	Assignee string    // "": anyone's
	Since    time.Time // zero: from the start
	Limit    int       // 0: no limit
}

// Cases is the case book inside one transaction: what a handler writes
// commits with the push's handled mark and its outbox rows, or not at all.
// Methods that read a case for changing it lock it.
type Cases interface {
	// MemberBook is the member's own data, in the same transaction.
	MemberBook
	VisitBook // the member's and directors' home visits (visit.go)
	// OpenCase opens a case, gives the member a member number if they
	// have none, logs ActionOpened, and attaches the member's media
	// pushes of the last few minutes.
	OpenCase(ctx context.Context, c NewCase) (Case, error)
	// CurrentCase is the member's case that is not closed, if any.
	CurrentCase(ctx context.Context, openID string) (Case, bool, error)
	// CaseByNumber finds a case by its number.
	CaseByNumber(ctx context.Context, number int64) (Case, bool, error)
	// CaseByID finds a case by its row id (a conversation's CaseID).
	CaseByID(ctx context.Context, id int64) (Case, bool, error)
	// SaveCase writes a case's changeable fields (branch, category,
	// urgency, kind, status, assignee, rating and the times).
	SaveCase(ctx context.Context, c Case) error
	// Log appends an action to a case's log.
	Log(ctx context.Context, caseID int64, action, actor, text string) error
	// FindCases lists cases, urgent and oldest first, and how many match in all.
	FindCases(ctx context.Context, q CaseQuery) ([]Case, int, error)
	// MemberCases lists a member's cases, newest first.
	MemberCases(ctx context.Context, openID string, limit int) ([]Case, error)
	// LastActions is a case's latest actions, oldest first.
	LastActions(ctx context.Context, caseID int64, limit int) ([]CaseAction, error)
	// Attach makes a media push evidence of a case.
	Attach(ctx context.Context, caseID int64, msg Inbound) error
	// CaseEvidence lists a case's evidence, oldest first.
	CaseEvidence(ctx context.Context, caseID int64) ([]Evidence, error)
	// MemberNo is the member's number, given one if they have none.
	MemberNo(ctx context.Context, openID string) (int64, error)
	// MemberOf is the stored member (for the customer-service window).
	MemberOf(ctx context.Context, openID string) (Member, bool, error)
	// LastLocation is the member's latest location push, if any.
	LastLocation(ctx context.Context, openID string) (lat, lng float64, ok bool, err error)
	// Conversation is what the bot waits for from openID on topic.
	Conversation(ctx context.Context, openID, topic string) (Conversation, bool, error)
	// SetConversation starts or replaces a conversation.
	SetConversation(ctx context.Context, c Conversation) error
	// EndConversation forgets it.
	EndConversation(ctx context.Context, openID, topic string) error
	// Correct records a director's correction of what the bot understood
	// of a case's words: a labelled example for the next training.
	Correct(ctx context.Context, c Correction) error
	// Enqueue writes messages to the outbox in this transaction (the case
	// clock's alerts; a handler's go in its Reply).
	Enqueue(ctx context.Context, sends []Send) error
	// Audit records that someone was shown a member's data, in this
	// transaction: the record commits with the reply that shows it.
	Audit(ctx context.Context, e AuditEntry) error
}

// CaseClock is the case book as the clock sees it, inside one
// transaction: each list locks the cases it returns, skipping those
// another process holds, so every one-off alert is written once.
type CaseClock interface {
	Cases
	// Unaccepted are open cases older than their accept SLA (urgent
	// ones their own) with no escalation yet.
	Unaccepted(ctx context.Context, sla, urgentSLA time.Duration, limit int) ([]Case, error)
	// Unreplied are accepted cases with no reply within sla of
	// acceptance and no reminder yet.
	Unreplied(ctx context.Context, sla time.Duration, limit int) ([]Case, error)
	// QuestionsToAlert are open question cases not alerted yet, of the
	// branches whose oldest such case waited at least wait.
	QuestionsToAlert(ctx context.Context, wait time.Duration, limit int) ([]Case, error)
	// Unreached are cases whose alerts all failed and were not escalated
	// for it yet.
	Unreached(ctx context.Context, limit int) ([]Case, error)
	// UndeliveredReplies are directors' replies to members the outbox gave
	// up on, not reported yet; each is marked reported.
	UndeliveredReplies(ctx context.Context, limit int) ([]UndeliveredReply, error)
}

// UndeliveredReply is a director's reply that did not reach the member.
type UndeliveredReply struct {
	Case   Case   // its Assignee is told
	Reason string // the outbox's failed_reason
}

// Outbox kinds of case messages.
const (
	KindAlert      = "alert"       // a new case for a branch's directors
	KindEscalation = "escalation"  // to the county directors
	KindCaseReply  = "case_reply"  // a director's words to the member
	KindCaseNotice = "case_notice" // the bot telling a member or director what happened to a case
	KindRelay      = "relay"       // a member's message passed to the assignee
)

// Correction is a director's word on what a case's message meant: its
// intent, or its category, or both.
type Correction struct {
	CaseID   int64
	OpenID   string // the member, so erasing them erases it
	Text     string // the member's words
	Intent   Intent // "" when only the category was corrected
	Category string // "" when only the intent was corrected
	Actor    string // the director
}

// AuditEntry is one look at a member's personal data: who looked, at
// whose, what they were shown and which part. The audit log is
// append-only.
type AuditEntry struct {
	Actor   string `db:"actor"`   // a director's openid, or "staff:<name>" for the command line
	Subject string `db:"subject"` // the member's openid; "" for a listing of many
	What    string `db:"what"`    // one of the Audit… constants
	Detail  string `db:"detail"`  // the case number or the filters; never a member's words or phone
}

// What an audit entry records.
const (
	AuditCaseView    = "case_view"    // a director's 案件 N
	AuditCaseList    = "case_list"    // a director's 案件
	AuditExport      = "export"       // nuanjia export
	AuditCasesReport = "cases_report" // nuanjia cases
	AuditProfileView = "profile_view" // someone else's 我的信息
)

// AuditStaffPrefix marks an actor who used the command line, not WeChat.
const AuditStaffPrefix = "staff:"
