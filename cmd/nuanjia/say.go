package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"nuanjia/bot/wechat"
	"nuanjia/config"
)

// say posts one push to a running server exactly as WeChat would (signed,
// and encrypted when WECHAT_AES_KEY is set) and prints the member's view of
// the answer. When the server answered "success" and sends the reply later
// as a customer-service message, say waits for it at the fake WeChat API.
func say(ctx context.Context, e env) error {
	fs := e.flags("say")
	openID := fs.String("openid", "demo-member", "the member's openid")
	voice := fs.Bool("voice", false, "send the text as a recognised voice message")
	location := fs.String("location", "", "send a location instead: LAT,LNG")
	event := fs.String("event", "", "send an event instead: subscribe, unsubscribe, CLICK")
	key := fs.String("key", "", "the event's EventKey (menu key, qrscene_<branch>)")
	wait := fs.Duration("wait", 8*time.Second, "how long to wait for a late customer-service reply")
	if err := fs.Parse(e.args); err != nil {
		return err
	}
	text := strings.Join(fs.Args(), " ")
	cfg, err := config.Load(e.getenv, config.NeedWebhook)
	if err != nil {
		return err
	}
	now := time.Now().Unix()
	msgID := randomMsgID()
	const account = "gh_nuanjia_demo"
	var push string
	switch {
	case *event != "":
		push = wechat.EventPush(*openID, account, *event, *key, now)
	case *location != "":
		lat, lng, err := parseLatLng(*location)
		if err != nil {
			return err
		}
		push = wechat.LocationPush(*openID, account, lat, lng, text, msgID, now)
	case *voice:
		push = wechat.VoicePush(*openID, account, text, msgID, now)
	case text != "":
		push = wechat.TextPush(*openID, account, text, msgID, now)
	default:
		return errors.New(`usage: nuanjia say "你好"  (or --voice, --location LAT,LNG, --event NAME)`)
	}

	signer := wechat.PushSigner{Token: cfg.WeChatToken, AppID: cfg.WeChatAppID, AESKey: cfg.WeChatAESKey}
	nonce := strconv.FormatInt(now%1000000007, 10) + hex.EncodeToString(randomBytes(4))
	query, body, err := signer.Sign(push, now, nonce)
	if err != nil {
		return err
	}
	sent := time.Now()
	url := "http://" + cfg.HTTPAddr + "/wechat?" + query.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("is the server running (make run)? %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("server refused the push: %s %s", resp.Status, strings.TrimSpace(string(answer)))
	}
	text, err = signer.ReadAnswer(answer)
	if err != nil {
		return fmt.Errorf("reply does not verify: %w", err)
	}
	if text == "" {
		late, err := awaitCustomerMessage(ctx, cfg.WeChatAPIBase, *openID, sent, *wait)
		if err != nil {
			fmt.Fprintln(e.stdout, "(no reply)")
			return nil
		}
		fmt.Fprintln(e.stdout, "(客服消息) "+late)
		return nil
	}
	fmt.Fprintln(e.stdout, text)
	return nil
}

// awaitCustomerMessage polls the fake WeChat API's call log for a
// customer-service text to openID sent after since.
func awaitCustomerMessage(ctx context.Context, apiBase, openID string, since time.Time, wait time.Duration) (string, error) {
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, apiBase+"/_fake/calls?path=/cgi-bin/message/custom/send", nil)
		if err != nil {
			return "", err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		var calls []struct {
			JSON struct {
				ToUser string `json:"touser"`
				Text   struct {
					Content string `json:"content"`
				} `json:"text"`
			} `json:"json"`
			At time.Time `json:"at"`
		}
		err = json.NewDecoder(resp.Body).Decode(&calls)
		resp.Body.Close()
		if err != nil {
			return "", err
		}
		for _, c := range calls {
			if c.JSON.ToUser == openID && !c.At.Before(since) {
				return c.JSON.Text.Content, nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return "", errors.New("no customer-service message")
}

func parseLatLng(s string) (lat, lng float64, err error) {
	a, b, ok := strings.Cut(s, ",")
	if ok {
		lat, err = strconv.ParseFloat(strings.TrimSpace(a), 64)
	}
	if ok && err == nil {
		lng, err = strconv.ParseFloat(strings.TrimSpace(b), 64)
	}
	if !ok || err != nil {
		return 0, 0, fmt.Errorf("--location wants LAT,LNG such as 24.77,105.34")
	}
	return lat, lng, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// randomMsgID is a positive 63-bit id, like WeChat's MsgId.
func randomMsgID() int64 {
	b := randomBytes(8)
	var n int64
	for _, c := range b {
		n = n<<8 | int64(c)
	}
	if n < 0 {
		n = -n
	}
	return n | 1
}
