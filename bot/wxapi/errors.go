package wxapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Error is a call WeChat answered with a non-zero errcode, or with an HTTP
// status other than 200 (then Code is 0 and Status is set).
type Error struct {
	API    string // the endpoint without /cgi-bin/, e.g. "message/custom/send"
	Code   int    // WeChat's errcode
	Msg    string // WeChat's errmsg; it never holds our message text
	Status int    // HTTP status when the gateway, not the API, answered
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("wechat %s: http %d", e.API, e.Status)
	}
	return fmt.Sprintf("wechat %s: errcode %d: %s", e.API, e.Code, e.Msg)
}

// Kind says what a caller should do about an error.
type Kind int

const (
	KindNone          Kind = iota // no error
	KindPermanent                 // fix the request or give up; retrying will not help
	KindRetryLater                // quota, WeChat's system error, network, timeout, 5xx: retry with backoff
	KindOutsideWindow             // the 48 h customer-service window is closed or its 5 messages are used: use a template
	KindUnsubscribed              // the member unfollowed: stop sending, run the unsubscribe cleanup
	KindBadToken                  // credentials or the IP whitelist are wrong: alert an operator
)

func (k Kind) String() string {
	switch k {
	case KindNone:
		return "none"
	case KindPermanent:
		return "permanent"
	case KindRetryLater:
		return "retry_later"
	case KindOutsideWindow:
		return "outside_window"
	case KindUnsubscribed:
		return "unsubscribed"
	case KindBadToken:
		return "bad_token"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// KindOf classifies an error returned by a Client method (see §3.8 of the
// platform notes for the codes).
func KindOf(err error) Kind {
	if err == nil {
		return KindNone
	}
	var we *Error
	if errors.As(err, &we) {
		if we.Status != 0 {
			if we.Status >= 500 {
				return KindRetryLater
			}
			return KindPermanent
		}
		switch we.Code {
		case -1, 45009, 45011:
			return KindRetryLater
		case 45015, 45047:
			return KindOutsideWindow
		case 43004:
			return KindUnsubscribed
		case 40001, 40014, 42001, 40125, 40164:
			return KindBadToken
		}
		return KindPermanent
	}
	var ne net.Error
	var te *transportError
	switch {
	case errors.As(err, &te), errors.As(err, &ne),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, errTokenWait):
		return KindRetryLater
	}
	return KindPermanent
}

// transportError is a request that got no usable answer. It replaces
// *url.Error, whose text includes the URL and so the access token, which
// must never reach a log line.
type transportError struct {
	api string
	err error
}

func (e *transportError) Error() string { return "wechat " + e.api + ": " + e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// errTokenWait: another process held the refresh lock for the whole wait
// and no token appeared.
var errTokenWait = errors.New("wxapi: timed out waiting for another process to refresh the access token")

// ErrTooLarge: the answer was longer than the call allows (MaxMediaSize
// for media). Asking again brings the same answer, so it is permanent.
var ErrTooLarge = errors.New("answer too large")

// Uncertain reports whether a failed call may still have been carried out
// by WeChat: the request went out, or may have, and no definite answer came
// back (a transport failure or timeout once connecting had begun, an HTTP
// 5xx from the gateway in front of the API). A WeChat errcode is a definite
// answer; a failure to get the access token or to connect means the call
// was never made. Callers that must not repeat a call give up on these.
func Uncertain(err error) bool {
	var we *Error
	if errors.As(err, &we) {
		return we.Status >= 500 && we.API != tokenAPI
	}
	var te *transportError
	if !errors.As(err, &te) || te.api == tokenAPI {
		return false
	}
	var oe *net.OpError
	if errors.As(te.err, &oe) && oe.Op == "dial" {
		return false // no connection, so nothing was sent
	}
	return true
}

// Describe is what a table row or a log line may keep of an error from
// this client: the HTTP status, or WeChat's errcode and errmsg with the
// API named, or the client's own short words; at most maxLen bytes, valid
// UTF-8. code is WeChat's errcode, 0 when there is none. None of these
// carry what was sent, nor the access token.
func Describe(err error, maxLen int) (code int, desc string) {
	var we *Error
	switch {
	case errors.As(err, &we) && we.Status != 0:
		desc = fmt.Sprintf("%s: http %d", we.API, we.Status)
	case errors.As(err, &we):
		code, desc = we.Code, fmt.Sprintf("%s: errcode %d: %s", we.API, we.Code, we.Msg)
	default:
		desc = err.Error()
	}
	if len(desc) > maxLen {
		desc = strings.ToValidUTF8(desc[:maxLen], "")
	}
	return code, desc
}
