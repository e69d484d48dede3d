package wxapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/silenceper/wechat/v2/officialaccount/menu"
	"github.com/silenceper/wechat/v2/officialaccount/message"
)

// SendText sends a customer-service (客服) text message. WeChat allows it
// only within 48 h of the member's last message and 5 times per message
// (KindOutsideWindow otherwise).
func (c *Client) SendText(ctx context.Context, openID, text string) error {
	if openID == "" || text == "" {
		return errors.New("wxapi: SendText needs an openid and text")
	}
	return c.do(ctx, "message/custom/send", http.MethodPost, message.NewCustomerTextMessage(openID, text), nil)
}

// SendMedia sends a customer-service image, voice or video message (kind
// is MediaImage, MediaVoice or MediaVideo) of a media id: one a member
// pushed, within its 3 days, or one from UploadMedia. The window and quota
// of SendText apply.
func (c *Client) SendMedia(ctx context.Context, openID, kind, mediaID string) error {
	if openID == "" || mediaID == "" {
		return errors.New("wxapi: SendMedia needs an openid and a media id")
	}
	var msg *message.CustomerMessage
	switch kind {
	case MediaImage:
		msg = message.NewCustomerImgMessage(openID, mediaID)
	case MediaVoice:
		msg = message.NewCustomerVoiceMessage(openID, mediaID)
	case MediaVideo:
		// The SDK has no builder for it. Its MediaVideo always sends
		// thumb_media_id, title and description; evidence has none of them,
		// so they go empty.
		msg = &message.CustomerMessage{ToUser: openID, Msgtype: message.MsgTypeVideo, Video: &message.MediaVideo{MediaID: mediaID}}
	default:
		return fmt.Errorf("wxapi: SendMedia: no media kind %q", kind)
	}
	return c.do(ctx, "message/custom/send", http.MethodPost, msg, nil)
}

// TemplateMessage is a template (service notification) message. Data maps
// each template keyword (without ".DATA") to its value.
type TemplateMessage struct {
	ToUser, TemplateID, URL string
	Data                    map[string]string
}

// templateBody is our own, not the SDK's message.TemplateMessage, which
// always sends an empty "miniprogram" object.
type templateBody struct {
	ToUser     string                   `json:"touser"`
	TemplateID string                   `json:"template_id"`
	URL        string                   `json:"url,omitempty"`
	Data       map[string]templateValue `json:"data"`
}

type templateValue struct {
	Value string `json:"value"`
}

// SendTemplate sends a template message and returns WeChat's msgid, which
// the TEMPLATESENDJOBFINISH event reports on.
func (c *Client) SendTemplate(ctx context.Context, msg TemplateMessage) (msgID int64, err error) {
	if msg.ToUser == "" || msg.TemplateID == "" {
		return 0, errors.New("wxapi: SendTemplate needs ToUser and TemplateID")
	}
	body := templateBody{ToUser: msg.ToUser, TemplateID: msg.TemplateID, URL: msg.URL, Data: make(map[string]templateValue, len(msg.Data))}
	for k, v := range msg.Data {
		body.Data[k] = templateValue{Value: v}
	}
	var out struct {
		MsgID int64 `json:"msgid"`
	}
	err = c.do(ctx, "message/template/send", http.MethodPost, body, &out)
	return out.MsgID, err
}

type massText struct {
	Content string `json:"content"`
}

type massFilter struct {
	IsToAll bool  `json:"is_to_all"`
	TagID   int64 `json:"tag_id"`
}

type massResult struct {
	MsgID int64 `json:"msg_id"`
}

// MaxClientMsgID is WeChat's limit on a clientmsgid, in bytes (45067
// beyond it).
const MaxClientMsgID = 64

// Errcodes of the mass-send APIs the callers act on.
const (
	// ErrDuplicateClientMsgID: a mass send with the same clientmsgid was
	// taken within the last 24 hours; WeChat sends nothing again and
	// answers with the first job's msg_id.
	ErrDuplicateClientMsgID = 45065
)

// MassText is one text mass message and whom it goes to: a tag's
// followers (TagID), every follower (ToAll), or 2 to 10000 followers by
// openid (OpenIDs).
type MassText struct {
	TagID   int64
	ToAll   bool
	OpenIDs []string
	Text    string
	// ClientMsgID makes the call safe to repeat: within 24 hours WeChat
	// takes one job per clientmsgid ("" for none; at most 64 bytes).
	ClientMsgID string
}

// MassSendText hands WeChat a mass-send job and returns its msg_id, which
// the MASSSENDJOBFINISH event reports on. A repeat of a clientmsgid WeChat
// already took is not an error: the first job's msg_id comes back with
// repeated set, and nothing is sent again. WeChat delivers at most 4 mass
// messages per member per calendar month.
func (c *Client) MassSendText(ctx context.Context, m MassText) (msgID int64, repeated bool, err error) {
	if m.Text == "" {
		return 0, false, errors.New("wxapi: a mass send needs text")
	}
	if len(m.ClientMsgID) > MaxClientMsgID {
		return 0, false, fmt.Errorf("wxapi: clientmsgid is %d bytes, WeChat takes %d", len(m.ClientMsgID), MaxClientMsgID)
	}
	api := "message/mass/sendall"
	var payload any
	switch {
	case len(m.OpenIDs) > 0:
		// The bounds are WeChat's, checked here to save a call that must fail.
		if len(m.OpenIDs) < 2 || len(m.OpenIDs) > 10000 {
			return 0, false, fmt.Errorf("wxapi: mass send needs 2 to 10000 openids, got %d", len(m.OpenIDs))
		}
		api = "message/mass/send"
		payload = struct {
			ToUser      []string `json:"touser"`
			MsgType     string   `json:"msgtype"`
			Text        massText `json:"text"`
			ClientMsgID string   `json:"clientmsgid,omitempty"`
		}{m.OpenIDs, "text", massText{m.Text}, m.ClientMsgID}
	case m.ToAll || m.TagID > 0:
		payload = struct {
			Filter      massFilter `json:"filter"`
			Text        massText   `json:"text"`
			MsgType     string     `json:"msgtype"`
			ClientMsgID string     `json:"clientmsgid,omitempty"`
		}{massFilter{IsToAll: m.ToAll, TagID: m.TagID}, massText{m.Text}, "text", m.ClientMsgID}
	default:
		return 0, false, errors.New("wxapi: a mass send needs a tag, every follower or openids")
	}
	body, err := marshal(payload)
	if err != nil {
		return 0, false, err
	}
	// Not c.do: a 45065 answer carries the first job's msg_id, which
	// decode would drop with the errcode.
	r := jsonRequest(api, http.MethodPost, body)
	var answer []byte
	err = c.withToken(ctx, func(tok string) error {
		a, err := c.exchange(ctx, r, c.apiURL(api, tok, nil))
		if err != nil {
			return err
		}
		answer = a.data
		return decode(api, a.data, nil)
	})
	var we *Error
	if errors.As(err, &we) && we.Status == 0 && we.Code == ErrDuplicateClientMsgID {
		var out massResult
		if json.Unmarshal(answer, &out) == nil && out.MsgID != 0 {
			return out.MsgID, true, nil
		}
	}
	if err != nil {
		c.logFailure(ctx, api, err)
		return 0, false, err
	}
	var out massResult
	if err := decode(api, answer, &out); err != nil {
		return 0, false, err
	}
	return out.MsgID, false, nil
}

// MassSendTextByTag broadcasts text to the followers with tagID, without a
// clientmsgid (see MassSendText).
func (c *Client) MassSendTextByTag(ctx context.Context, tagID int64, text string) (msgID int64, err error) {
	if tagID <= 0 {
		return 0, errors.New("wxapi: MassSendTextByTag needs a tag id")
	}
	msgID, _, err = c.MassSendText(ctx, MassText{TagID: tagID, Text: text})
	return msgID, err
}

// MassSendTextToOpenIDs broadcasts text to 2..10000 followers, without a
// clientmsgid (see MassSendText).
func (c *Client) MassSendTextToOpenIDs(ctx context.Context, openIDs []string, text string) (msgID int64, err error) {
	if len(openIDs) < 2 || len(openIDs) > 10000 {
		return 0, fmt.Errorf("wxapi: mass send needs 2 to 10000 openids, got %d", len(openIDs))
	}
	msgID, _, err = c.MassSendText(ctx, MassText{OpenIDs: openIDs, Text: text})
	return msgID, err
}

// PreviewText sends a mass message's text to one follower as WeChat's
// preview of it (message/mass/preview): it looks as the broadcast will,
// and counts against no one's monthly quota. WeChat allows about 100 a day.
func (c *Client) PreviewText(ctx context.Context, openID, text string) error {
	if openID == "" || text == "" {
		return errors.New("wxapi: PreviewText needs an openid and text")
	}
	body := struct {
		ToUser  string   `json:"touser"`
		Text    massText `json:"text"`
		MsgType string   `json:"msgtype"`
	}{openID, massText{text}, "text"}
	return c.do(ctx, "message/mass/preview", http.MethodPost, body, nil)
}

// Tag is a follower tag.
type Tag struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Count int64  `json:"count"`
}

// CreateTag creates a tag (at most 100 per account, names ≤30 bytes).
func (c *Client) CreateTag(ctx context.Context, name string) (id int64, err error) {
	if name == "" {
		return 0, errors.New("wxapi: CreateTag needs a name")
	}
	type tag struct {
		ID   int64  `json:"id,omitempty"`
		Name string `json:"name"`
	}
	body := struct {
		Tag tag `json:"tag"`
	}{tag{Name: name}}
	var out struct {
		Tag tag `json:"tag"`
	}
	err = c.do(ctx, "tags/create", http.MethodPost, body, &out)
	return out.Tag.ID, err
}

// Tags lists the account's tags with their follower counts.
func (c *Client) Tags(ctx context.Context) ([]Tag, error) {
	var out struct {
		Tags []Tag `json:"tags"`
	}
	err := c.do(ctx, "tags/get", http.MethodGet, nil, &out)
	return out.Tags, err
}

// tagBatch is WeChat's limit of openids per (un)tagging call.
const tagBatch = 50

// TagMembers adds the tag to the followers, 50 per call. On an error the
// earlier batches stay applied; tagging is idempotent, so the caller can
// retry the whole list.
func (c *Client) TagMembers(ctx context.Context, tagID int64, openIDs []string) error {
	return c.tagging(ctx, "tags/members/batchtagging", tagID, openIDs)
}

// UntagMembers removes the tag from the followers, 50 per call.
func (c *Client) UntagMembers(ctx context.Context, tagID int64, openIDs []string) error {
	return c.tagging(ctx, "tags/members/batchuntagging", tagID, openIDs)
}

func (c *Client) tagging(ctx context.Context, api string, tagID int64, openIDs []string) error {
	for start := 0; start < len(openIDs); start += tagBatch {
		end := min(start+tagBatch, len(openIDs))
		body := struct {
			OpenIDs []string `json:"openid_list"`
			TagID   int64    `json:"tagid"`
		}{openIDs[start:end], tagID}
		if err := c.do(ctx, api, http.MethodPost, body, nil); err != nil {
			return fmt.Errorf("wxapi: %s: %d of %d openids done: %w", api, start, len(openIDs), err)
		}
	}
	return nil
}

// SetMenu replaces the custom menu: 1 to 3 top-level buttons with up to 5
// sub-buttons each. Build buttons with the SDK's menu.NewClickButton,
// menu.NewViewButton, menu.NewSubButton…, whose JSON is WeChat's.
func (c *Client) SetMenu(ctx context.Context, buttons []*menu.Button) error {
	if len(buttons) == 0 || len(buttons) > 3 {
		return fmt.Errorf("wxapi: a menu has 1 to 3 top-level buttons, got %d", len(buttons))
	}
	for _, b := range buttons {
		if b == nil || len(b.SubButtons) > 5 {
			return errors.New("wxapi: a menu button is nil or has more than 5 sub-buttons")
		}
	}
	body := struct {
		Button []*menu.Button `json:"button"`
	}{buttons}
	return c.do(ctx, "menu/create", http.MethodPost, body, nil)
}
