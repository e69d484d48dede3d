package bot

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Understander turns a member's text into an Understanding.
type Understander interface {
	Understand(text string) Understanding
}

// ChoiceMemory keeps the numbered question the bot asked a member, with the
// text that made it ask, so the member's "1"…"4" can be answered.
type ChoiceMemory interface {
	SetPendingChoice(ctx context.Context, openID string, p PendingChoice, ttl time.Duration) error
	TakePendingChoice(ctx context.Context, openID string) (PendingChoice, bool, error)
}

// PendingChoice is a question waiting for the member's number: either
// which intent they meant, or which of a few FAQs they want.
type PendingChoice struct {
	Text     string   `json:"text"`
	Choices  []Intent `json:"choices,omitempty"`
	FAQs     []string `json:"faqs,omitempty"`
	Branches []string `json:"branches,omitempty"` // which branch's card
}

// ChoiceTTL is how long a numbered question waits for its answer.
const ChoiceTTL = 30 * time.Minute

// Interceptor may take a push before its intent is served: a director's
// command, a member's answer to something the bot asked (what happened, a
// rating), a message for an open case. It returns false to leave the push
// to the intent's handler.
type Interceptor interface {
	Intercept(ctx context.Context, req *Request) (Reply, bool, error)
}

// Finisher sees every answer before it is written, and may add to it:
// onboarding asks a new member's branch and consent after answering what
// they came for.
type Finisher interface {
	Finish(ctx context.Context, req *Request, reply Reply) (Reply, error)
}

// Router picks the handler for a push and asks back when the member's
// meaning is unclear.
type Router struct {
	understander Understander
	choices      ChoiceMemory
	handlers     map[Intent]Handler
	interceptors []Interceptor
	finishers    []Finisher
	log          *slog.Logger
}

// NewRouter returns a router with no handlers; Register adds them.
func NewRouter(u Understander, choices ChoiceMemory, log *slog.Logger) *Router {
	return &Router{understander: u, choices: choices, handlers: map[Intent]Handler{}, log: log}
}

// Register makes h serve intent. IntentUnknown's handler is the fallback for
// any intent without one.
func (r *Router) Register(intent Intent, h Handler) { r.handlers[intent] = h }

// Intercept adds an interceptor; they are asked in the order added.
func (r *Router) Intercept(i Interceptor) { r.interceptors = append(r.interceptors, i) }

// Finish adds a finisher; they run in the order added.
func (r *Router) Finish(f Finisher) { r.finishers = append(r.finishers, f) }

// LowConfidence is the score under which the bot does not trust its reading
// of a text: such a text reaches a person as an unknown one does (help
// requests and greetings excepted: a help request is in front of a person
// anyway, and a misread hello costs nothing).
const LowConfidence = 0.2

// Member-facing texts the router itself says.
const (
	textVoiceUnclear = "没听清你的语音，请再说一遍，或者直接打字告诉我们。"
	textImageThanks  = "图片收到了。需要帮忙的话，请用文字简单说说情况，我们转给支部负责人。"
	textVideoThanks  = "视频收到了。需要帮忙的话，请用文字简单说说情况，我们转给支部负责人。"
	textLinkThanks   = "链接收到了。有问题想问的话，请直接打字告诉我们。"
	textFileThanks   = "文件收到了。需要帮忙的话，请用文字简单说说情况，我们转给支部负责人。"
	textOtherThanks  = "消息收到了。需要帮忙的话，请直接打字告诉我们。"
	textHandlerError = "抱歉，系统出了点问题，请稍后再发一次。"
	textChoiceAsk    = "想确认一下，你是想："
	textChoiceHint   = "回复数字就行。"
)

// choiceLabels are the short names of intents in a numbered question.
func choiceLabel(i Intent) string {
	switch i {
	case IntentHelp:
		return "求助"
	case IntentContact:
		return "联系卡"
	case IntentPolicy:
		return "政策咨询"
	case IntentVisit:
		return "预约访视"
	case IntentStatus:
		return "查求助进度"
	case IntentStop:
		return "不再接收推送"
	case IntentForget:
		return "删除我的信息"
	case IntentGreeting:
		return "打个招呼"
	}
	return string(i)
}

// Route decides what to answer to one push; cases is the case book in the
// transaction that handles it. The returned Understanding says which
// intent served it (for the message log). A panic in a handler is
// recovered and logged, and the member gets no reply (the webhook then
// answers "success").
func (r *Router) Route(ctx context.Context, msg Inbound, member Member, cases Cases) (Reply, Understanding, error) {
	reply, u, err := r.route(ctx, msg, member, cases)
	if err != nil {
		return reply, u, err
	}
	req := &Request{Msg: msg, Member: member, U: u, Cases: cases}
	for _, f := range r.finishers {
		finished, err := f.Finish(ctx, req, reply)
		if err != nil {
			// The answer stands without what the finisher would add.
			r.log.Error("finisher failed", "intent", string(u.Intent), "error", err)
			continue
		}
		reply = finished
	}
	return reply, u, nil
}

func (r *Router) route(ctx context.Context, msg Inbound, member Member, cases Cases) (reply Reply, u Understanding, err error) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("handler panic", "intent", string(u.Intent), "panic", fmt.Sprint(p))
			reply, err = Reply{}, nil
		}
	}()
	switch msg.Type {
	case TypeEvent:
		return r.routeEvent(ctx, msg, member, cases)
	case TypeLocation:
		// A location is sent to find the nearest branch's card.
		u = Understanding{Text: msg.Text, Intent: IntentContact, Score: 1}
		return r.dispatch(ctx, &Request{Msg: msg, Member: member, U: u, Cases: cases})
	}
	u = Understanding{Intent: IntentUnknown}
	spoken := (msg.Type == TypeText || msg.Type == TypeVoice) && strings.TrimSpace(msg.Text) != ""
	if spoken {
		if n, ok := choiceNumber(msg.Text); ok {
			if u, ok := r.answerChoice(ctx, msg.OpenID, n); ok {
				return r.dispatch(ctx, &Request{Msg: msg, Member: member, U: u, Cases: cases})
			}
		}
		u = r.understander.Understand(msg.Text)
	}
	req := &Request{Msg: msg, Member: member, U: u, Cases: cases}
	for _, ic := range r.interceptors {
		reply, ok, err := ic.Intercept(ctx, req)
		if err != nil {
			r.log.Error("interceptor failed", "intent", string(u.Intent), "error", err)
			return Reply{Text: textHandlerError}, req.U, nil
		}
		if ok {
			return reply, req.U, nil
		}
	}
	switch msg.Type {
	case TypeText:
	case TypeVoice:
		if !spoken {
			return Reply{Text: textVoiceUnclear}, u, nil
		}
	case TypeImage:
		return Reply{Text: textImageThanks}, u, nil
	case TypeVideo, TypeShortVideo:
		return Reply{Text: textVideoThanks}, u, nil
	case TypeLink:
		return Reply{Text: textLinkThanks}, u, nil
	case TypeFile:
		return Reply{Text: textFileThanks}, u, nil
	default:
		// A kind of message WeChat added later: the member still hears
		// that it arrived.
		return Reply{Text: textOtherThanks}, u, nil
	}
	if len(u.Choices) >= 2 {
		if reply, ok := r.ask(ctx, msg.OpenID, u); ok {
			return reply, u, nil
		}
		req.U.Choices = nil // without memory the question could not be answered
	}
	if req.U.Score < LowConfidence && req.U.Intent != IntentHelp && req.U.Intent != IntentGreeting {
		req.U.Intent = IntentUnknown
	}
	return r.dispatch(ctx, req)
}

func (r *Router) routeEvent(ctx context.Context, msg Inbound, member Member, cases Cases) (Reply, Understanding, error) {
	req := &Request{Msg: msg, Member: member, Cases: cases}
	switch msg.Event {
	case EventSubscribe, EventScan:
		req.U = Understanding{Intent: IntentGreeting, Score: 1}
		return r.dispatch(ctx, req)
	case EventLocationSelect:
		// A place picked from the menu's location button: the nearest
		// branch's card, as for a location message.
		req.U = Understanding{Text: msg.Text, Intent: IntentContact, Score: 1}
		return r.dispatch(ctx, req)
	case EventClick:
		// Menu keys are intent names, so the menu needs no table of its own;
		// a policy topic's key also names its FAQ. An id the knowledge base
		// dropped after the menu was pushed is left to the policy handler,
		// which then asks what the member wants to know.
		key := strings.ToLower(strings.TrimSpace(msg.EventKey))
		if id, ok := strings.CutPrefix(key, MenuKeyFAQ); ok {
			req.U = Understanding{Intent: IntentPolicy, FAQ: id, Score: 1}
			return r.dispatch(ctx, req)
		}
		intent := Intent(key)
		if _, ok := r.handlers[intent]; !ok {
			intent = IntentUnknown
		}
		req.U = Understanding{Intent: intent, Score: 1}
		return r.dispatch(ctx, req)
	}
	if msg.Event == EventUnsubscribe {
		// Nobody to answer, but what waited for them is cancelled and
		// their open case closed.
		req.U = Understanding{Intent: IntentUnsubscribe, Score: 1}
		if _, ok := r.handlers[IntentUnsubscribe]; !ok {
			return Reply{}, req.U, nil
		}
		reply, u, err := r.dispatch(ctx, req)
		return Reply{Sends: reply.Sends}, u, err
	}
	// VIEW (the member left for a page), LOCATION (WeChat reports it on
	// its own each time the chat opens): kept, not answered.
	return Reply{}, Understanding{Intent: IntentUnknown}, nil
}

func (r *Router) dispatch(ctx context.Context, req *Request) (reply Reply, served Understanding, err error) {
	u := req.U
	// Recovered here, where the intent is known, so the log line and the
	// message log say which handler broke; Route's own recover would see a
	// zero Understanding on the event, location and numbered-answer paths.
	served = u
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("handler panic", "intent", string(u.Intent), "panic", fmt.Sprint(p))
			reply, err = Reply{}, nil
		}
	}()
	h, ok := r.handlers[u.Intent]
	if !ok {
		h, ok = r.handlers[IntentUnknown]
		if !ok {
			return Reply{}, u, nil
		}
	}
	reply, err = h.Handle(ctx, req)
	if err != nil {
		r.log.Error("handler failed", "intent", string(u.Intent), "error", err)
		return Reply{Text: textHandlerError}, u, nil
	}
	return reply, u, nil
}

// ask words one short numbered question and remembers it. It returns false
// when the question cannot be remembered, and the caller takes its best guess.
func (r *Router) ask(ctx context.Context, openID string, u Understanding) (Reply, bool) {
	choices := u.Choices
	if len(choices) > 4 {
		choices = choices[:4]
	}
	if err := r.choices.SetPendingChoice(ctx, openID, PendingChoice{Text: u.Text, Choices: choices}, ChoiceTTL); err != nil {
		r.log.Warn("cannot remember the question; answering the best guess", "error", err)
		return Reply{}, false
	}
	var b strings.Builder
	b.WriteString(textChoiceAsk)
	for i, c := range choices {
		fmt.Fprintf(&b, "\n%d %s", i+1, choiceLabel(c))
	}
	b.WriteString("\n" + textChoiceHint)
	return Reply{Text: b.String()}, true
}

// answerChoice resolves a member's number against the pending question.
func (r *Router) answerChoice(ctx context.Context, openID string, n int) (Understanding, bool) {
	p, ok, err := r.choices.TakePendingChoice(ctx, openID)
	if err != nil {
		r.log.Warn("cannot read the pending question", "error", err)
		return Understanding{}, false
	}
	if !ok {
		return Understanding{}, false
	}
	u := r.understander.Understand(p.Text)
	switch {
	case n <= len(p.Choices):
		u.Intent = p.Choices[n-1]
	case n <= len(p.FAQs):
		u.Intent, u.FAQ, u.FAQs = IntentPolicy, p.FAQs[n-1], nil
	case n <= len(p.Branches):
		u.Intent, u.Branch, u.Branches = IntentContact, p.Branches[n-1], nil
	default:
		return Understanding{}, false
	}
	u.Choices, u.Score = nil, 1
	return u, true
}

// choiceNumber reads a reply such as "1", "２" or " 3。" as a number.
func choiceNumber(text string) (int, bool) {
	t := strings.TrimSpace(strings.Trim(strings.TrimSpace(text), "。.!！"))
	t = strings.Map(func(r rune) rune {
		if r >= '０' && r <= '９' {
			return r - '０' + '0'
		}
		return r
	}, t)
	n, err := strconv.Atoi(t)
	if err != nil || n < 1 || n > 9 {
		return 0, false
	}
	return n, true
}
