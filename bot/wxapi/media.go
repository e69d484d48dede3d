package wxapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
)

// Kinds of temporary media (临时素材), as media/upload's type and a
// customer-service message's msgtype name them.
const (
	MediaImage = "image"
	MediaVoice = "voice"
	MediaVideo = "video"
)

// MaxMediaSize bounds one medium read or uploaded. WeChat's own limits on
// temporary media are lower (10 MB images and videos, 2 MB voice), so a
// longer answer is not a member's photo.
const MaxMediaSize = 20 << 20

func validMediaKind(kind string) bool {
	return kind == MediaImage || kind == MediaVoice || kind == MediaVideo
}

// GetMedia downloads a temporary medium: a member's photo, voice or video,
// which WeChat keeps for 3 days after the push that named it. contentType
// is what WeChat said it is (image/jpeg, audio/amr, video/mp4…). An
// unknown or expired media id is errcode 40007 (KindPermanent).
func (c *Client) GetMedia(ctx context.Context, mediaID string) (data []byte, contentType string, err error) {
	const api = "media/get"
	if mediaID == "" {
		return nil, "", errors.New("wxapi: GetMedia needs a media id")
	}
	r := request{api: api, method: http.MethodGet, limit: MaxMediaSize}
	query := url.Values{"media_id": {mediaID}}
	var got answer
	var videoURL string
	err = c.withToken(ctx, func(tok string) error {
		a, err := c.exchange(ctx, r, c.apiURL(api, tok, query))
		if err != nil {
			return err
		}
		if !isTextAnswer(a) {
			got = a
			return nil
		}
		// An error, or for a video the address to download it from.
		var v struct {
			VideoURL string `json:"video_url"`
		}
		if err := decode(api, a.data, &v); err != nil {
			return err
		}
		if v.VideoURL == "" {
			return &Error{API: api, Code: -1, Msg: "answer is neither media nor a video_url"}
		}
		videoURL = v.VideoURL
		return nil
	})
	if err == nil && videoURL != "" {
		got, err = c.downloadVideo(ctx, r, videoURL)
	}
	if err != nil {
		c.logFailure(ctx, api, err)
		return nil, "", err
	}
	contentType = got.contentType
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	return got.data, contentType, nil
}

// downloadVideo fetches the video_url media/get gave for a video. It holds
// no access token; WeChat serves it over plain http.
func (c *Client) downloadVideo(ctx context.Context, r request, videoURL string) (answer, error) {
	u, err := url.Parse(videoURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return answer{}, &Error{API: r.api, Code: -1, Msg: "video_url is not an http address"}
	}
	a, err := c.exchange(ctx, r, u.String())
	if err != nil {
		return answer{}, err
	}
	if isTextAnswer(a) {
		return answer{}, &Error{API: r.api, Code: -1, Msg: "video_url answered text, not a video"}
	}
	return a, nil
}

// isTextAnswer reports whether an answer is JSON or text (WeChat sends its
// errors as text/plain or application/json) rather than the medium.
func isTextAnswer(a answer) bool {
	mt, _, err := mime.ParseMediaType(a.contentType)
	if err != nil || mt == "" {
		return bytes.HasPrefix(bytes.TrimSpace(a.data), []byte("{"))
	}
	return mt == "application/json" || strings.HasPrefix(mt, "text/")
}

// UploadMedia uploads data as a temporary medium of kind (MediaImage,
// MediaVoice or MediaVideo) and returns its media id, usable for 3 days in
// customer-service messages. filename's extension tells WeChat the format.
func (c *Client) UploadMedia(ctx context.Context, kind, filename string, data []byte) (mediaID string, err error) {
	const api = "media/upload"
	switch {
	case !validMediaKind(kind):
		return "", fmt.Errorf("wxapi: UploadMedia: no media kind %q", kind)
	case filename == "" || len(data) == 0:
		return "", errors.New("wxapi: UploadMedia needs a file name and data")
	case len(data) > MaxMediaSize:
		return "", fmt.Errorf("wxapi: UploadMedia: %w (%d bytes at most)", ErrTooLarge, MaxMediaSize)
	}
	var body bytes.Buffer
	form := multipart.NewWriter(&body)
	part, err := form.CreateFormFile("media", filename)
	if err == nil {
		_, err = part.Write(data)
	}
	if err == nil {
		err = form.Close()
	}
	if err != nil {
		return "", fmt.Errorf("wxapi: UploadMedia: build form: %w", err)
	}
	r := request{api: api, method: http.MethodPost, body: body.Bytes(), contentType: form.FormDataContentType(), limit: maxAnswer}
	var out struct {
		MediaID string `json:"media_id"`
	}
	if err := c.call(ctx, r, url.Values{"type": {kind}}, &out); err != nil {
		return "", err
	}
	if out.MediaID == "" {
		err := &Error{API: api, Code: -1, Msg: "answer without media_id"}
		c.logFailure(ctx, api, err)
		return "", err
	}
	return out.MediaID, nil
}
