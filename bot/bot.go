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
	IntentProfile  Intent = "profile"  // a menu-only intent: 我的信息; not one the understanding layer reads
	IntentUnknown  Intent = "unknown"
)

// Kinds of inbound message (WeChat's MsgType) and of event (its Event field).
const (
	TypeText       = "text"
	TypeVoice      = "voice"
	TypeLocation   = "location"
	TypeImage      = "image"
	TypeVideo      = "video"
	TypeShortVideo = "shortvideo"
	TypeLink       = "link"
	TypeFile       = "file"
	TypeEvent      = "event"

	EventSubscribe      = "subscribe"
	EventUnsubscribe    = "unsubscribe"
	EventScan           = "SCAN"
	EventClick          = "CLICK"
	EventView           = "VIEW"
	EventLocation       = "LOCATION"
	EventLocationSelect = "location_select"
	EventMassSendDone   = "MASSSENDJOBFINISH"
	EventTemplSendDone  = "TEMPLATESENDJOBFINISH"
)

// Inbound is one push from WeChat: every field nuanjia keeps of it.
type Inbound struct {
	OpenID    string // FromUserName: the member
	AccountID string // ToUserName: our gh_ id
	Type      string // TypeText, TypeVoice, …
	Event     string // for TypeEvent
	EventKey  string // menu key, qrscene_ value, VIEW url
	// Text is what the member said: Content, Recognition for voice, Label
	// for a location, the POI name for location_select, a link's or file's
	// Description.
	Text     string
	MsgID    int64     // MsgId for messages, MsgID for the two job-finish events
	Lat, Lng float64   // location messages, LOCATION and location_select events
	Located  bool      // Lat/Lng are set
	At       time.Time // CreateTime

	// Media and link fields. WeChat keeps a pushed MediaId for 3 days.
	MediaID      string // image, voice, video, shortvideo
	PicURL       string // image
	Format       string // voice: amr, speex…
	ThumbMediaID string // video, shortvideo
	Title        string // link, file
	Description  string // link, file
	URL          string // link

	// Job is WeChat's report on a mass or template send (the two
	// job-finish events).
	Job JobReport

	// Extra holds the rest of what WeChat sent that nuanjia does not act
	// on yet, by WeChat's element name: a file's FileKey, FileMd5 and
	// FileTotalLen, a QR code's Ticket, a VIEW's MenuId, a location's Scale,
	// Precision, Label and Poiname, ScanType and ScanResult, the number of
	// pictures of a pic_* event, a subscribe popup's choices. Nothing a
	// member sends is dropped.
	Extra map[string]string

	// StoredID is the push's row in the messages table, once kept (0
	// before); cases attach media by it.
	StoredID int64

	// DedupeKey identifies WeChat's retries of this push: "m:<MsgId>" for
	// messages with a MsgId, "h:<openid>:<CreateTime>:<hash of the push>"
	// for messages without one, "j:<Event>:<MsgID>" for job reports and
	// "e:<FromUserName>:<CreateTime>:<Event>" for other events.
	DedupeKey string
}

// JobReport is the body of a MASSSENDJOBFINISH or TEMPLATESENDJOBFINISH.
type JobReport struct {
	Status                        string // "send success", "sendsuccess", "failed: …"
	Total, Filtered, Sent, Errors int    // mass sends only
}

// IsJobReport reports whether the push is WeChat's report on a send job,
// which is kept but never answered.
func (in Inbound) IsJobReport() bool {
	return in.Type == TypeEvent && (in.Event == EventMassSendDone || in.Event == EventTemplSendDone)
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
	// Consent to keeping phone, location and family details (nil: never
	// answered), for the consent text ConsentVersion; ConsentAsked is the
	// version last asked.
	Consent        *bool  `db:"consent" json:"consent"`
	ConsentVersion string `db:"consent_version" json:"consent_version,omitempty"`
	ConsentAsked   string `db:"consent_asked" json:"-"`
	// Director: the openid is a director's; their words are not masked.
	Director bool `db:"director" json:"-"`
}

// Consented reports whether the member agreed to the current consent text.
func (m Member) Consented() bool {
	return m.Consent != nil && *m.Consent && m.ConsentVersion == ConsentVersion
}

// CustomerServiceWindow is how long after a member's last message WeChat
// lets us send customer-service messages (errcode 45015 after that).
const CustomerServiceWindow = 48 * time.Hour

// InWindow reports whether a customer-service message to m is allowed at now.
func (m Member) InWindow(now time.Time) bool {
	return m.LastInboundAt != nil && now.Sub(*m.LastInboundAt) < CustomerServiceWindow
}

// Reply is what the bot does about a push. Text goes back as the HTTP
// answer when it is ready in time, else by customer-service message; More
// follow it by customer-service message, in order; Sends are messages to
// other people (a director's alert), carried by the outbox. All of it is
// written in the same transaction that marks the push handled.
type Reply struct {
	Text  string
	More  []string
	Sends []Send
}

// Texts is every text for the member, in order.
func (r Reply) Texts() []string {
	if r.Text == "" {
		return r.More
	}
	return append([]string{r.Text}, r.More...)
}

// Send is one message the outbox delivers to someone other than the
// member being answered.
type Send struct {
	OpenID string
	Kind   string // why it is sent: "alert", "reminder"…
	// Channel is ChannelCustomerService or ChannelTemplate; Fallback is
	// tried when Channel is final for this person ("" for none).
	Channel  string
	Fallback string
	Text     string    // the customer-service text
	Template *Template // the template message, for ChannelTemplate
	// MediaKind and MediaID make it a customer-service image, voice or
	// video message (a member's evidence passed to a director) instead of
	// text.
	MediaKind, MediaID string
	// CaseID is the case it is about (0 for none): the case clock finds
	// alerts that reached nobody by it.
	CaseID int64
	// AtMostOnce: if the sender cannot tell whether WeChat took it (killed
	// mid-send, a timeout), it is given up rather than sent again. For
	// alerts, whose loss the case clock notices and makes up for by
	// telling the county, where a second copy would only be noise.
	AtMostOnce bool
}

// Template is a template message.
type Template struct {
	ID   string
	URL  string
	Data map[string]string
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
	// Branches are the branches a place name several share could mean
	// (隆林: three), when the text names no one branch: ask which.
	Branches []string
	Urgent   bool   // injury, violence, a sick child, no food or shelter…
	Danger   Danger // for an urgent message, which emergency number fits ("" when unsure)
}

// Danger is the kind of emergency, by the number that helps.
type Danger string

const (
	DangerMedical Danger = "medical" // 120: injury, illness, pregnancy, a child, poisoning, suicide
	DangerPolice  Danger = "police"  // 110: violence, threats, a missing person
	DangerFire    Danger = "fire"    // 119: fire, collapse
	DangerNeeds   Danger = "needs"   // no food or shelter: the association itself
)

// Request is what a Handler gets: the push, the member as stored before it,
// what the text was understood to mean, and the case book.
type Request struct {
	Msg    Inbound
	Member Member
	U      Understanding
	// Cases is the case book in the transaction handling the push; nil
	// where there is none (the classify and say tools without a database).
	Cases Cases
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

// Channels a message leaves by: the HTTP answer to the push, a
// customer-service message, a template message.
const (
	ChannelPassive         = "passive"
	ChannelCustomerService = "customer_service"
	ChannelTemplate        = "template"
)
