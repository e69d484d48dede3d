package bot

import "time"

// Statuses of an outbox row (the outbox table's CHECK lists them all).
const (
	OutboxPending   = "pending"   // due at next_attempt
	OutboxSending   = "sending"   // claimed by a sender until lease_until
	OutboxAnswered  = "answered"  // went out as the HTTP answer
	OutboxSent      = "sent"      // WeChat took it
	OutboxFailed    = "failed"    // given up; failed_reason says why
	OutboxCancelled = "cancelled" // no longer wanted
)

// Why an outbox row was given up (its failed_reason).
const (
	FailedOutsideWindow = "outside_window" // the customer-service window is closed and there is no fallback
	FailedCSLimit       = "cs_limit"       // the member's customer-service messages for their last message are used up
	FailedUnsubscribed  = "unsubscribed"   // the member unfollowed (43004)
	FailedPermanent     = "permanent"      // WeChat refused the request itself
	FailedMaxAttempts   = "max_attempts"   // still failing after the last attempt allowed
	FailedLeaseExpired  = "lease_expired"  // its sender vanished mid-send on the last attempt allowed
	FailedUncertain     = "uncertain"      // an at-most-once row whose attempt may or may not have reached WeChat
)

// WeChat's customer-service quotas (platform notes §3.2): a member's message
// allows CustomerServicePerMessage messages within CustomerServiceWindow; a
// follow, a QR-code scan or a menu click allows CustomerServicePerTrigger
// within CustomerServiceTriggerWindow.
// (Which events count as a trigger is written down once, in the store's
// claim statement: subscribe, SCAN, CLICK and the scancode clicks.)
const (
	CustomerServicePerMessage    = 5
	CustomerServicePerTrigger    = 3
	CustomerServiceTriggerWindow = time.Minute
)

// OutboxMessage is one outbox row a sender has claimed: leased to it until
// its lease ends, with Attempts already counting this attempt.
type OutboxMessage struct {
	ID       int64
	OpenID   string
	Kind     string // why it is sent: "reply", "alert"…
	Channel  string // ChannelCustomerService or ChannelTemplate
	Fallback string // the channel to try when Channel is final for this member; "" for none
	Text     string
	Template *Template // nil when the row has no template
	// MediaKind and MediaID: an image, voice or video customer-service
	// message instead of Text.
	MediaKind, MediaID string
	// AtMostOnce: an attempt whose outcome is unknown (timeout, cut off)
	// fails the row with FailedUncertain instead of retrying it.
	AtMostOnce bool
	// CauseMessageID is the member message that caused it (0 for none).
	CauseMessageID int64
	Intent         string
	// Attempts counts the claims of this row, this one included. It also
	// fences the outcome: only the claim that holds the row may record it.
	Attempts int
	// Allowance is the recipient's customer-service quota as the claim
	// found it; set for ChannelCustomerService rows only.
	Allowance CSAllowance
}

// CSAllowance is what WeChat's customer-service rules need to know about a
// recipient, read by the database when the row was claimed.
type CSAllowance struct {
	Now time.Time // the database's clock at the claim
	// LastMessage is when they last sent a message (not an event); nil if
	// never. SinceMessage counts the customer-service messages sent to them
	// (or being sent) since.
	LastMessage  *time.Time
	SinceMessage int
	// LastTrigger is their last follow, QR-code scan or menu click; nil if
	// none. SinceTrigger counts customer-service messages since it.
	LastTrigger  *time.Time
	SinceTrigger int
}

// Allows reports whether one more customer-service message may go to the
// recipient. When it may not, reason is FailedCSLimit (a window is open but
// its messages are used up) or FailedOutsideWindow (no window is open).
func (a CSAllowance) Allows() (ok bool, reason string) {
	msgOpen := a.LastMessage != nil && a.Now.Sub(*a.LastMessage) < CustomerServiceWindow
	trigOpen := a.LastTrigger != nil && a.Now.Sub(*a.LastTrigger) < CustomerServiceTriggerWindow
	switch {
	case msgOpen && a.SinceMessage < CustomerServicePerMessage:
		return true, ""
	case trigOpen && a.SinceTrigger < CustomerServicePerTrigger:
		return true, ""
	case msgOpen || trigOpen:
		return false, FailedCSLimit
	}
	return false, FailedOutsideWindow
}

// OutboxResult is what a sender records about one claimed row's attempt.
type OutboxResult struct {
	// Status is OutboxSent, OutboxPending (try again after RetryIn, on
	// Channel) or OutboxFailed (FailedReason says why).
	Status       string
	Channel      string        // for OutboxPending: the channel of the next attempt
	Fallback     string        // for OutboxPending: the fallback left after it
	RetryIn      time.Duration // for OutboxPending
	WeChatMsgID  int64         // for a sent template message
	FailedReason string        // for OutboxFailed
	// The error of this attempt, when there was one: the wxapi kind's name,
	// WeChat's errcode (0 when it gave none) and WeChat's errmsg or a short
	// description. Never the message's text.
	ErrorKind string
	ErrorCode int
	Error     string
}

// OutboxStats is what operators watch of the outbox.
type OutboxStats struct {
	Due       int           // rows due now
	OldestDue time.Duration // how long the oldest due row has been due
	Sending   int           // rows claimed by a sender
	Failed    int           // rows given up on
}
