// Package bot holds nuanjia's domain types, the intent Handler interface, the
// Router that picks a handler for each member message, and the WeChat webhook
// that feeds it. It imports neither store nor handlers: what it needs from
// them is declared here as small interfaces and wired up in cmd.
package bot

import (
	"context"
	"time"
)

// Intent names what a member wants. The string values are the interface
// other parts (menu keys, classify output, the evaluation set) agree on.
type Intent string

const (
	IntentHelp     Intent = "help"     // a problem to solve: wages, injury, school, fraud…
	IntentContact  Intent = "contact"  // a branch's phone card
	IntentPolicy   Intent = "policy"   // a family-planning or public-service policy question
	IntentVisit    Intent = "visit"    // home visit: book, change, ask when
	IntentStatus   Intent = "status"   // progress of my help request
	IntentGreeting Intent = "greeting" // hello, thanks, who are you
	IntentStop     Intent = "stop"     // no more broadcasts
	IntentForget   Intent = "forget"   // erase my data
	IntentUnknown  Intent = "unknown"
)

// Kinds of inbound message (WeChat's MsgType) and of event (its Event field).
const (
	TypeText     = "text"
	TypeVoice    = "voice"
	TypeLocation = "location"
	TypeImage    = "image"
	TypeEvent    = "event"

	EventSubscribe     = "subscribe"
	EventUnsubscribe   = "unsubscribe"
	EventScan          = "SCAN"
	EventClick         = "CLICK"
	EventView          = "VIEW"
	EventLocation      = "LOCATION"
	EventMassSendDone  = "MASSSENDJOBFINISH"
	EventTemplSendDone = "TEMPLATESENDJOBFINISH"
)

// Inbound is one push from WeChat, reduced to what nuanjia uses.
type Inbound struct {
	OpenID    string    // FromUserName: the member
	AccountID string    // ToUserName: our gh_ id
	Type      string    // TypeText, TypeVoice, …
	Event     string    // for TypeEvent
	EventKey  string    // menu key, qrscene_ value, VIEW url
	Text      string    // Content, or Recognition for voice, or Label for location
	MsgID     int64     // MsgId for messages, MsgID for the two job-finish events
	Status    string    // job-finish events: WeChat's status text
	Lat, Lng  float64   // location messages only
	Located   bool      // Lat/Lng are set
	At        time.Time // CreateTime
	// DedupeKey identifies WeChat's retries of this push: "m:<MsgId>" for
	// messages, "e:<FromUserName>:<CreateTime>:<Event>" for events.
	DedupeKey string
}

// Member is what nuanjia keeps about a follower of the account. The times
// handed to a handler count the push being answered, but may miss pushes of
// the last fraction of a second: the webhook writes them in bulk.
type Member struct {
	OpenID        string     `db:"openid" json:"openid"`
	FirstSeen     time.Time  `db:"first_seen" json:"first_seen"`
	LastSeen      time.Time  `db:"last_seen" json:"last_seen"`
	Subscribed    bool       `db:"subscribed" json:"subscribed"`
	LastInboundAt *time.Time `db:"last_inbound_at" json:"last_inbound_at"`
	BranchID      *string    `db:"branch_id" json:"branch_id"`
	NoBroadcasts  bool       `db:"no_broadcasts" json:"no_broadcasts"`
}

// CustomerServiceWindow is how long after a member's last message WeChat
// lets us send customer-service messages (errcode 45015 after that).
const CustomerServiceWindow = 48 * time.Hour

// InWindow reports whether a customer-service message to m is allowed at now.
func (m Member) InWindow(now time.Time) bool {
	return m.LastInboundAt != nil && now.Sub(*m.LastInboundAt) < CustomerServiceWindow
}

// Reply is what the bot says back. An empty Text means nothing to say: the
// webhook answers WeChat with the literal "success".
type Reply struct {
	Text string
}

// Understanding is what the understanding layer made of a member's text.
type Understanding struct {
	Text    string   // as the member wrote it
	Norm    string   // normalised: simplified, half-width, no fillers
	Intent  Intent   // best intent
	Score   float64  // confidence of Intent, 0..1
	Choices []Intent // two or more close intents: ask instead of guessing
	FAQ     string   // id of the clearly best FAQ, if any
	FAQs    []string // up to three candidate FAQ ids when none is clearly best
	Branch  string   // id of a branch the text names, if any
	Urgent  bool     // injury, violence, a sick child, no food or shelter…
}

// Request is what a Handler gets: the push, the member as stored before it,
// and what the text was understood to mean.
type Request struct {
	Msg    Inbound
	Member Member
	U      Understanding
}

// Handler serves one intent. It returns the reply the member should see;
// an error is logged once by the router and the member gets a short apology.
type Handler interface {
	Handle(ctx context.Context, req *Request) (Reply, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req *Request) (Reply, error)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, req *Request) (Reply, error) { return f(ctx, req) }

// Reply channels: in the HTTP answer to the push, or as a customer-service
// message sent afterwards.
const (
	ChannelPassive         = "passive"
	ChannelCustomerService = "customer_service"
)

// SentReply is a reply the bot sent, for the message log.
type SentReply struct {
	OpenID  string
	Text    string
	Channel string // ChannelPassive or ChannelCustomerService
	Intent  Intent // which handler answered
	At      time.Time
}
