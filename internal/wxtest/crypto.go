// Package wxtest is nuanjia's WeChat test kit: it builds inbound pushes the
// way WeChat's servers do (signed, optionally encrypted), opens the
// encrypted replies the webhook sends back, and fakes the WeChat HTTP API.
//
// The crypto here deliberately uses only the Go standard library and not
// silenceper/wechat's util package: the webhook under test uses the SDK's
// crypto, and a test kit that shared that code would agree with any bug in
// it. vectors_test.go pins this implementation to Tencent's published
// vectors, so the kit is an independent reference.
package wxtest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Signer signs and encrypts pushes for one official account, holding the
// three values configured on the MP console's server page.
type Signer struct {
	Token  string // the server-configuration Token
	AppID  string // wx…; it is the tail of every encrypted plaintext
	AESKey string // 43-char EncodingAESKey; empty for plaintext-only tests
}

// Sign returns WeChat's signature over s.Token and parts: the strings are
// sorted lexicographically, concatenated and SHA-1 hashed (lower-case hex).
// Pass (timestamp, nonce) for the URL/"signature" parameter and
// (timestamp, nonce, encrypt) for msg_signature. The Token is added here
// because every WeChat signature includes it.
func (s Signer) Sign(parts ...string) string {
	all := make([]string, 0, len(parts)+1)
	all = append(all, s.Token)
	all = append(all, parts...)
	return sha1Hex(all...)
}

// sha1Hex is the raw algorithm, without the Token, so the vector tests can
// check it on Tencent's own inputs.
func sha1Hex(parts ...string) string {
	sorted := append([]string(nil), parts...) // never reorder the caller's slice
	sort.Strings(sorted)
	h := sha1.Sum([]byte(strings.Join(sorted, "")))
	return hex.EncodeToString(h[:])
}

// Plain builds a plaintext-mode push: the query WeChat appends to the
// server URL and the body. WeChat also adds openid (the sender) to the query
// of message pushes, so it is set when the XML has a FromUserName.
func (s Signer) Plain(xmlMsg string, ts int64, nonce string) (url.Values, []byte) {
	q := s.baseQuery(ts, nonce)
	if from := field(xmlMsg, "FromUserName"); from != "" {
		q.Set("openid", from)
	}
	return q, []byte(xmlMsg)
}

// Safe builds a safe-mode (安全模式) push with a fresh random prefix from
// crypto/rand, as WeChat does. It panics if s.AESKey is not a valid
// EncodingAESKey: that is a mistake in the test, not a condition to handle.
func (s Signer) Safe(xmlMsg string, ts int64, nonce string) (url.Values, []byte) {
	return s.SafeWithRandom(xmlMsg, ts, nonce, randomPrefix())
}

// SafeWithRandom is Safe with a caller-chosen 16-byte random prefix, for
// byte-exact expectations.
func (s Signer) SafeWithRandom(xmlMsg string, ts int64, nonce string, random []byte) (url.Values, []byte) {
	enc := s.mustEncrypt(random, []byte(xmlMsg))
	q := s.safeQuery(xmlMsg, ts, nonce, enc)
	body := "<xml><ToUserName>" + cdata(field(xmlMsg, "ToUserName")) + "</ToUserName><Encrypt>" + cdata(enc) + "</Encrypt></xml>"
	return q, []byte(body)
}

// Compatible builds a compatible-mode (兼容模式) push: the plaintext fields
// and an Encrypt element in one body, with the safe-mode query (see
// Tencent's Python sample, vector C in the platform notes).
func (s Signer) Compatible(xmlMsg string, ts int64, nonce string) (url.Values, []byte) {
	enc := s.mustEncrypt(randomPrefix(), []byte(xmlMsg))
	q := s.safeQuery(xmlMsg, ts, nonce, enc)
	i := strings.LastIndex(xmlMsg, "</xml>")
	if i < 0 {
		panic("wxtest: Compatible needs a message ending in </xml>")
	}
	body := xmlMsg[:i] + "<Encrypt>" + cdata(enc) + "</Encrypt>" + xmlMsg[i:]
	return q, []byte(body)
}

// Handshake is the query of WeChat's URL-verification GET. It is signed
// with the plain 3-field signature in every mode, and echostr is sent in
// clear text for official accounts.
func (s Signer) Handshake(echostr string, ts int64, nonce string) url.Values {
	q := s.baseQuery(ts, nonce)
	q.Set("echostr", echostr)
	return q
}

func (s Signer) baseQuery(ts int64, nonce string) url.Values {
	t := strconv.FormatInt(ts, 10)
	return url.Values{
		"signature": {s.Sign(t, nonce)},
		"timestamp": {t},
		"nonce":     {nonce},
	}
}

// safeQuery keeps the 3-field signature too: WeChat sends both, and the
// SDK checks "signature" before it looks at msg_signature.
func (s Signer) safeQuery(xmlMsg string, ts int64, nonce, enc string) url.Values {
	q := s.baseQuery(ts, nonce)
	if from := field(xmlMsg, "FromUserName"); from != "" {
		q.Set("openid", from)
	}
	q.Set("encrypt_type", "aes")
	q.Set("msg_signature", s.Sign(q.Get("timestamp"), nonce, enc))
	return q
}

func (s Signer) mustEncrypt(random, msg []byte) string {
	enc, err := s.Encrypt(random, msg)
	if err != nil {
		panic("wxtest: " + err.Error())
	}
	return enc
}

// blockK is WeChat's PKCS#7 block size: 32, not AES's 16.
const blockK = 32

func (s Signer) key() ([]byte, error) {
	if len(s.AESKey) != 43 {
		return nil, fmt.Errorf("EncodingAESKey must be 43 characters, got %d", len(s.AESKey))
	}
	k, err := base64.StdEncoding.DecodeString(s.AESKey + "=")
	if err != nil {
		return nil, fmt.Errorf("EncodingAESKey: %w", err)
	}
	if len(k) != 32 {
		return nil, fmt.Errorf("EncodingAESKey decodes to %d bytes, want 32", len(k))
	}
	return k, nil
}

// Encrypt returns base64(AES-256-CBC(random ‖ len(msg) big-endian ‖ msg ‖
// AppID)) with IV = key[:16] and PKCS#7 padding to 32 bytes.
func (s Signer) Encrypt(random, msg []byte) (string, error) {
	if len(random) != 16 {
		return "", fmt.Errorf("random prefix must be 16 bytes, got %d", len(random))
	}
	k, err := s.key()
	if err != nil {
		return "", err
	}
	var plain bytes.Buffer
	plain.Write(random)
	_ = binary.Write(&plain, binary.BigEndian, uint32(len(msg)))
	plain.Write(msg)
	plain.WriteString(s.AppID)
	pad := blockK - plain.Len()%blockK // a full block of 32 when already aligned
	plain.Write(bytes.Repeat([]byte{byte(pad)}, pad))

	block, err := aes.NewCipher(k)
	if err != nil {
		return "", err
	}
	out := make([]byte, plain.Len())
	cipher.NewCBCEncrypter(block, k[:16]).CryptBlocks(out, plain.Bytes())
	return base64.StdEncoding.EncodeToString(out), nil
}

// Decrypt reverses Encrypt and returns the message and the AppID found in
// the tail. Every length is checked before slicing, so a corrupt input is
// an error and never a panic. It does not compare the AppID: OpenReply does,
// and the vector tests want to see it.
func (s Signer) Decrypt(b64 string) (msg []byte, appID string, err error) {
	k, err := s.key()
	if err != nil {
		return nil, "", err
	}
	ct, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, "", fmt.Errorf("base64: %w", err)
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, "", fmt.Errorf("ciphertext length %d is not a positive multiple of 16", len(ct))
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, "", err
	}
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, k[:16]).CryptBlocks(plain, ct)

	pad := int(plain[len(plain)-1])
	if pad < 1 || pad > blockK || pad > len(plain) {
		return nil, "", fmt.Errorf("bad padding %d", pad)
	}
	plain = plain[:len(plain)-pad]
	if len(plain) < 20 {
		return nil, "", errors.New("plaintext shorter than random+length")
	}
	n := binary.BigEndian.Uint32(plain[16:20])
	if uint64(n) > uint64(len(plain)-20) {
		return nil, "", fmt.Errorf("message length %d exceeds the %d bytes left", n, len(plain)-20)
	}
	body := plain[20:]
	return body[:n], string(body[n:]), nil
}

// replyEnvelope is the safe-mode passive reply WeChat expects (Tencent's
// AES_TEXT_RESPONSE_TEMPLATE).
type replyEnvelope struct {
	Encrypt      string `xml:"Encrypt"`
	MsgSignature string `xml:"MsgSignature"`
	TimeStamp    string `xml:"TimeStamp"`
	Nonce        string `xml:"Nonce"`
}

// OpenReply does what WeChat does with a safe-mode passive reply: parse the
// envelope, verify MsgSignature over (Token, TimeStamp, Nonce, Encrypt),
// decrypt, and check the AppID. It returns the inner reply XML.
func (s Signer) OpenReply(body []byte) (string, error) {
	var env replyEnvelope
	if err := xml.Unmarshal(body, &env); err != nil {
		return "", fmt.Errorf("reply is not an XML envelope: %w", err)
	}
	if env.Encrypt == "" || env.MsgSignature == "" || env.TimeStamp == "" || env.Nonce == "" {
		return "", errors.New("reply envelope lacks Encrypt, MsgSignature, TimeStamp or Nonce")
	}
	want := s.Sign(env.TimeStamp, env.Nonce, env.Encrypt)
	if subtle.ConstantTimeCompare([]byte(want), []byte(env.MsgSignature)) != 1 {
		return "", errors.New("reply MsgSignature does not verify")
	}
	msg, appID, err := s.Decrypt(env.Encrypt)
	if err != nil {
		return "", fmt.Errorf("reply decrypt: %w", err)
	}
	if appID != s.AppID {
		return "", fmt.Errorf("reply AppID %q, want %q", appID, s.AppID)
	}
	return string(msg), nil
}

func randomPrefix() []byte {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic("wxtest: crypto/rand: " + err.Error())
	}
	return b
}

// field returns the text of the first top-level <name> element of a push,
// or "" if it has none or the XML does not parse.
func field(xmlMsg, name string) string {
	var m struct {
		Items []struct {
			XMLName xml.Name
			Value   string `xml:",chardata"`
		} `xml:",any"`
	}
	if xml.Unmarshal([]byte(xmlMsg), &m) != nil {
		return ""
	}
	for _, it := range m.Items {
		if it.XMLName.Local == name {
			return it.Value
		}
	}
	return ""
}
