package wxapi

import (
	"context"
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

// MassSendTextByTag broadcasts text to the followers with tagID. WeChat
// delivers at most 4 mass messages per member per month; the outcome comes
// later in the MASSSENDJOBFINISH event for the returned msg_id.
func (c *Client) MassSendTextByTag(ctx context.Context, tagID int64, text string) (msgID int64, err error) {
	if text == "" {
		return 0, errors.New("wxapi: MassSendTextByTag needs text")
	}
	body := struct {
		Filter  massFilter `json:"filter"`
		Text    massText   `json:"text"`
		MsgType string     `json:"msgtype"`
	}{massFilter{IsToAll: false, TagID: tagID}, massText{text}, "text"}
	var out massResult
	err = c.do(ctx, "message/mass/sendall", http.MethodPost, body, &out)
	return out.MsgID, err
}

// MassSendTextToOpenIDs broadcasts text to 2..10000 followers. The bounds
// are WeChat's and are checked here to save a call that must fail.
func (c *Client) MassSendTextToOpenIDs(ctx context.Context, openIDs []string, text string) (msgID int64, err error) {
	if len(openIDs) < 2 || len(openIDs) > 10000 {
		return 0, fmt.Errorf("wxapi: mass send needs 2 to 10000 openids, got %d", len(openIDs))
	}
	if text == "" {
		return 0, errors.New("wxapi: MassSendTextToOpenIDs needs text")
	}
	body := struct {
		ToUser  []string `json:"touser"`
		MsgType string   `json:"msgtype"`
		Text    massText `json:"text"`
	}{openIDs, "text", massText{text}}
	var out massResult
	err = c.do(ctx, "message/mass/send", http.MethodPost, body, &out)
	return out.MsgID, err
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
