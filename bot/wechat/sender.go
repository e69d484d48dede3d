package wechat

import (
	"crypto/rand"
	"encoding/xml"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/silenceper/wechat/v2/officialaccount/message"
	"github.com/silenceper/wechat/v2/util"
)

// PushSigner builds requests the way WeChat posts pushes, for the tools
// that talk to a running server (nuanjia say, nuanjia bench) and check a
// deployment end to end. The webhook's tests use the test kit's own,
// independent implementation instead, proved on Tencent's vectors.
type PushSigner struct {
	Token, AppID string
	AESKey       string // "" posts in plaintext mode
}

// Sign returns the query and body for a push of the given XML; in safe mode
// the body is the encrypted envelope.
func (s PushSigner) Sign(pushXML string, timestamp int64, nonce string) (url.Values, []byte, error) {
	ts := strconv.FormatInt(timestamp, 10)
	q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {signature(s.Token, ts, nonce)}}
	if s.AESKey == "" {
		return q, []byte(pushXML), nil
	}
	random := make([]byte, 16)
	if _, err := rand.Read(random); err != nil {
		return nil, nil, err
	}
	enc, err := util.EncryptMsg(random, []byte(pushXML), s.AppID, s.AESKey)
	if err != nil {
		return nil, nil, fmt.Errorf("encrypt push: %w", err)
	}
	q.Set("encrypt_type", "aes")
	q.Set("msg_signature", signature(s.Token, ts, nonce, string(enc)))
	body, err := xml.Marshal(message.EncryptedXMLMsg{EncryptedMsg: string(enc)})
	return q, body, err
}

// ReadAnswer returns the text of the webhook's passive answer; "" when it
// answered "success". In safe mode the answer's signature is checked and
// its payload decrypted.
func (s PushSigner) ReadAnswer(body []byte) (string, error) {
	if strings.TrimSpace(string(body)) == "success" || len(body) == 0 {
		return "", nil
	}
	plain := body
	if s.AESKey != "" {
		var env message.ResponseEncryptedXMLMsg
		if err := xml.Unmarshal(body, &env); err != nil {
			return "", fmt.Errorf("answer is not an encrypted envelope: %w", err)
		}
		ts := strconv.FormatInt(env.Timestamp, 10)
		if !equalSignature(env.MsgSignature, signature(s.Token, ts, env.Nonce, env.EncryptedMsg)) {
			return "", fmt.Errorf("answer's msg_signature does not verify")
		}
		var err error
		if _, plain, err = util.DecryptMsg(s.AppID, env.EncryptedMsg, s.AESKey); err != nil {
			return "", fmt.Errorf("decrypt answer: %w", err)
		}
	}
	var text struct {
		Content string `xml:"Content"`
	}
	if err := xml.Unmarshal(plain, &text); err != nil {
		return "", fmt.Errorf("answer is not a text message: %w", err)
	}
	return text.Content, nil
}

// Push XML as WeChat sends it, for the tools.

// TextPush is a text message.
func TextPush(from, to, content string, msgID, ts int64) string {
	return pushXMLOf(from, to, ts, "text", "Content", content, "MsgId", strconv.FormatInt(msgID, 10))
}

// VoicePush is a voice message with WeChat's speech recognition.
func VoicePush(from, to, recognition string, msgID, ts int64) string {
	return pushXMLOf(from, to, ts, "voice", "MediaId", "media-"+strconv.FormatInt(msgID, 10), "Format", "amr",
		"Recognition", recognition, "MsgId", strconv.FormatInt(msgID, 10))
}

// LocationPush is a location message.
func LocationPush(from, to string, lat, lng float64, label string, msgID, ts int64) string {
	return pushXMLOf(from, to, ts, "location", "Location_X", strconv.FormatFloat(lat, 'f', 6, 64),
		"Location_Y", strconv.FormatFloat(lng, 'f', 6, 64), "Scale", "15", "Label", label,
		"MsgId", strconv.FormatInt(msgID, 10))
}

// EventPush is an event with an EventKey.
func EventPush(from, to, event, key string, ts int64) string {
	return pushXMLOf(from, to, ts, "event", "Event", event, "EventKey", key)
}

func pushXMLOf(from, to string, ts int64, msgType string, kv ...string) string {
	var b strings.Builder
	b.WriteString("<xml><ToUserName><![CDATA[" + to + "]]></ToUserName><FromUserName><![CDATA[" + from +
		"]]></FromUserName><CreateTime>" + strconv.FormatInt(ts, 10) + "</CreateTime><MsgType><![CDATA[" +
		msgType + "]]></MsgType>")
	for i := 0; i+1 < len(kv); i += 2 {
		v := strings.ReplaceAll(kv[i+1], "]]>", "]]]]><![CDATA[>")
		b.WriteString("<" + kv[i] + "><![CDATA[" + v + "]]></" + kv[i] + ">")
	}
	b.WriteString("</xml>")
	return b.String()
}
