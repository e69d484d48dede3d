package wxtest

import (
	"bytes"
	"strings"
	"testing"
)

// Tencent's published vectors, copied exactly from
// /work/shared/docs/wechat-platform.md §1.1 and §2.4 (the long strings were
// extracted mechanically from that file, never retyped). They pin the kit's
// stdlib-only crypto: K=32 padding, big-endian length, appid tail, 4-way
// signature sort and byte-exact plaintext with its newlines.
const (
	keyAlpha = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	keyB     = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
	keyE     = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

	vecAMsg1         = "我是中文abcd123"
	vecAEnc1         = "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
	vecAMsg2         = "<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName><FromUserName><![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime><MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId><Title><![CDATA[testCallBackReplyVideo]]></Title><Description><![CDATA[testCallBackReplyVideo]]></Description></Video></xml>"
	vecAEnc2         = "jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkupqcEcW7ZQweImX9+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+RdxSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb"
	vecBEcho         = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
	vecCFromXML      = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName><CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]></Content><MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=]]></Encrypt></xml>"
	vecCPlain        = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n<CreateTime>1409735668</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[abcdteT]]></Content>\n<MsgId>6054768590064713728</MsgId>\n</xml>"
	vecDEncrypt      = "mfBCs65c67CeJw22u4VT2TD73q5H06+ocrAIxswCaeZ/d/Lw0msSZFHY0teqgSYiI1zR2gD2DKrB3TIrmX/liNSDrGqS8jSI/WPeKB5VPr7Ezr7gomZAyGCwJSgT1TRFWPfONGJMxuj2nk4faTuspAuVIFQ6SHwZuJBZC7mcJp7Cgr9cUhATQWDbOPaE7ukZBTV2YqyzH+UI2AK+J1S47cE79k1RX8t0hcTz/O0hlK8DGXKnvYv88qKQcI7z4iaajqHfRVZKBNyOODabs+It+ZfM3dWTeFcPgDbGtIEnpt/EDtuuA/zMvtkaKdHdswPnVZQ+xdwbYr3ldGvfT8HlEYEgkgKaThxTFobVlwzu2ZkXCjicbP3xdr15Iq48ObgzPpqYuZ3IEoyggZDKClquk0u0orMck4GTF/XyE8yGzc4="
	vecDPlain        = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n<CreateTime>1410349438</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[abcdteT]]></Content>\n<MsgId>6057404712141979648</MsgId>\n</xml>"
	vecEEncrypt      = "D7yzvUNAL930rd28wf21s4hvXhz0L6Uit/p2Di6C5DHyYGpEgdBRnKjBec34JwoQXicwaZC7fOVihW80F4VtsdvE//1vr7oAbqjDv8KenVp+ajKYpJnyQ4zMRhIC+a31fCVOMC03FfzV/QuC94kBP55a+Za3sJgvAn+ZbsNqZI5DkyuzkhQN8OBqCzFhizGmy0xpM0MEA4agpvE+RuNO1rhHTtuJB5yltw1FiYzecSXJ+y/D2r81VkRn2eYjh2ltsoyfbDR7Is6ookXIFxTfyeNyeHxMeT4KN5WpCDmSbTcUYrbBUlkGLJ9n/rU8YOywma6G7aTb7KZKOqCxgfoUlYEZPk4FUL/TK7ShriFDMVCLyjQJ15Ob++agDWtcxhfUfe6HIoIpRW8mKNBQiY/Jd1svvuskA1wLef1RTtzKfMpagSCX/laZINmdnX4zrF6kIaR9P4xQrWXbsTFHTYe0Mg=="
	vecEPlain        = "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>\n<FromUserName><![CDATA[o9AgO5Kd5ggOC-bXrbNODIiE3bGY]]></FromUserName>\n<CreateTime>1715943329</CreateTime>\n<MsgType><![CDATA[event]]></MsgType>\n<Event><![CDATA[debug_demo]]></Event>\n<debug_str><![CDATA[hello world]]></debug_str>\n</xml>"
	vecEReplyEncrypt = "hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSvPT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7"
	vecEReplyMsg     = "<xml><demo_resp>[CDATA[good luck]]</demo_resp></xml>"
)

// §1.1: the plain URL-verification signature, Token AAAAA.
func TestVectorPlainSignature(t *testing.T) {
	s := Signer{Token: "AAAAA"}
	if got := s.Sign("1714036504", "1514711492"); got != "f464b24fc39322e44b38aa78f5edd27bd1441696" {
		t.Errorf("§1.1 signature = %s", got)
	}
	if got := s.Sign("1714037059", "486452656"); got != "899cf89e464efb63f54ddac96b0a0a235f53aa78" {
		t.Errorf("§2.4 E plain signature = %s", got)
	}
	q := s.Handshake("echo123", 1714036504, "1514711492")
	if q.Get("signature") != "f464b24fc39322e44b38aa78f5edd27bd1441696" || q.Get("echostr") != "echo123" ||
		q.Get("timestamp") != "1714036504" || q.Get("nonce") != "1514711492" {
		t.Errorf("Handshake query = %v", q)
	}
}

// Vector A: deterministic encryption with random "aaaabbbbccccdddd".
func TestVectorA(t *testing.T) {
	s := Signer{Token: "pamtest", AppID: "wxb11529c136998cb6", AESKey: keyAlpha}
	random := []byte("aaaabbbbccccdddd")
	for i, c := range []struct{ msg, want string }{{vecAMsg1, vecAEnc1}, {vecAMsg2, vecAEnc2}} {
		got, err := s.Encrypt(random, []byte(c.msg))
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("A%d encrypt:\n got %s\nwant %s", i+1, got, c.want)
		}
		msg, appID, err := s.Decrypt(c.want)
		if err != nil || string(msg) != c.msg || appID != s.AppID {
			t.Errorf("A%d decrypt = %q, %q, %v", i+1, msg, appID, err)
		}
	}
	// Derived (not official) msg_signature from the notes.
	if got := s.Sign("1409304348", "xxxxxx", vecAEnc1); got != "82c962d39941aa48552f90ef55aa323dc620cc10" {
		t.Errorf("A msg_signature = %s", got)
	}
}

// Vector B: safe-mode URL verification echo.
func TestVectorB(t *testing.T) {
	s := Signer{Token: "QDG6eK", AppID: "wx5823bf96d3bd56c7", AESKey: keyB}
	if got := s.Sign("1409659589", "263014780", vecBEcho); got != "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3" {
		t.Errorf("B signature = %s", got)
	}
	msg, appID, err := s.Decrypt(vecBEcho)
	if err != nil || string(msg) != "1616140317555161061" || appID != "wx5823bf96d3bd56c7" {
		t.Errorf("B decrypt = %q, %q, %v", msg, appID, err)
	}
}

// Vector C: compatible-mode body, msg_signature over Encrypt, byte-exact
// plaintext including the newlines between elements.
func TestVectorC(t *testing.T) {
	s := Signer{Token: "spamtest", AppID: "wx2c2769f8efd9abc2", AESKey: keyAlpha}
	enc := field(vecCFromXML, "Encrypt")
	if enc == "" {
		t.Fatal("no Encrypt in vector C body")
	}
	if got := s.Sign("1409735669", "1320562132", enc); got != "5d197aaffba7e9b25a30732f161a50dee96bd5fa" {
		t.Errorf("C msg_signature = %s", got)
	}
	msg, appID, err := s.Decrypt(enc)
	if err != nil || appID != s.AppID {
		t.Fatalf("C decrypt: appid %q, %v", appID, err)
	}
	if string(msg) != vecCPlain {
		t.Errorf("C plaintext:\n got %q\nwant %q", msg, vecCPlain)
	}
	if !strings.Contains(string(msg), "\n<FromUserName>") {
		t.Error("C plaintext lost its newlines")
	}
}

// Vector D: decrypt of the C++ sample.
func TestVectorD(t *testing.T) {
	s := Signer{Token: "spamtest", AppID: "wx2c2769f8efd9abc2", AESKey: keyAlpha}
	if got := s.Sign("1410349438", "298025754", vecDEncrypt); got != "003fee52ecc56afb46c00b5c7721be87860ce785" {
		t.Errorf("D msg_signature = %s", got)
	}
	msg, appID, err := s.Decrypt(vecDEncrypt)
	if err != nil || appID != s.AppID || string(msg) != vecDPlain {
		t.Errorf("D decrypt = %q, %q, %v", msg, appID, err)
	}
}

// Vector E: the current docs' worked example, push and passive reply.
func TestVectorE(t *testing.T) {
	s := Signer{Token: "AAAAA", AppID: "wx134c8103faa5a59e", AESKey: keyE}
	if got := s.Sign("1715943329", "1590219412", vecEEncrypt); got != "6c12a4205838198b8fa631b3220723bb07f1015c" {
		t.Errorf("E msg_signature = %s", got)
	}
	msg, appID, err := s.Decrypt(vecEEncrypt)
	if err != nil || appID != s.AppID || string(msg) != vecEPlain || len(msg) != 292 {
		t.Errorf("E decrypt = %q (%d bytes), %q, %v", msg, len(msg), appID, err)
	}

	// The reply: deterministic encryption and its MsgSignature.
	got, err := s.Encrypt([]byte("999951349e8ee746"), []byte(vecEReplyMsg))
	if err != nil || got != vecEReplyEncrypt {
		t.Errorf("E reply encrypt = %s, %v", got, err)
	}
	if sig := s.Sign("1713424427", "415670741", vecEReplyEncrypt); sig != "03e0812039325c2712ef5f0f980fd14c70d6e307" {
		t.Errorf("E reply MsgSignature = %s", sig)
	}
	env := "<xml>\n<Encrypt><![CDATA[" + vecEReplyEncrypt + "]]></Encrypt>\n" +
		"<MsgSignature><![CDATA[03e0812039325c2712ef5f0f980fd14c70d6e307]]></MsgSignature>\n" +
		"<TimeStamp>1713424427</TimeStamp>\n<Nonce><![CDATA[415670741]]></Nonce>\n</xml>"
	plain, err := s.OpenReply([]byte(env))
	if err != nil || plain != vecEReplyMsg {
		t.Errorf("E OpenReply = %q, %v", plain, err)
	}
	tampered := strings.Replace(env, "03e08120", "03e08121", 1)
	if _, err := s.OpenReply([]byte(tampered)); err == nil {
		t.Error("OpenReply accepted a bad MsgSignature")
	}
	other := Signer{Token: "AAAAA", AppID: "wxsomeoneelse", AESKey: keyE}
	if _, err := other.OpenReply([]byte(env)); err == nil {
		t.Error("OpenReply accepted a foreign AppID")
	}
}

// The kit's own push builders round-trip through its decrypt, and the
// safe-mode query signs exactly the Encrypt in the body.
func TestSafeAndCompatibleRoundTrip(t *testing.T) {
	s := Signer{Token: "tok", AppID: "wxkit", AESKey: keyAlpha}
	x := Text("oMember", "gh_acct", "你好 ]]> <b>", 42, 1700000000)
	if got := field(x, "Content"); got != "你好 ]]> <b>" {
		t.Fatalf("CDATA escape: Content = %q", got)
	}
	for name, build := range map[string]func(string, int64, string) (map[string][]string, []byte){
		"safe":       func(a string, b int64, c string) (map[string][]string, []byte) { return s.Safe(a, b, c) },
		"compatible": func(a string, b int64, c string) (map[string][]string, []byte) { return s.Compatible(a, b, c) },
	} {
		q, body := build(x, 1700000001, "n1")
		enc := field(string(body), "Encrypt")
		if q["encrypt_type"][0] != "aes" || q["msg_signature"][0] != s.Sign("1700000001", "n1", enc) ||
			q["signature"][0] != s.Sign("1700000001", "n1") || q["openid"][0] != "oMember" {
			t.Errorf("%s query = %v", name, q)
		}
		msg, appID, err := s.Decrypt(enc)
		if err != nil || appID != "wxkit" || string(msg) != x {
			t.Errorf("%s decrypt = %q, %q, %v", name, msg, appID, err)
		}
		if field(string(body), "ToUserName") != "gh_acct" {
			t.Errorf("%s body lacks ToUserName: %s", name, body)
		}
	}
	q1, b1 := s.SafeWithRandom(x, 1, "n", []byte("aaaabbbbccccdddd"))
	q2, b2 := s.SafeWithRandom(x, 1, "n", []byte("aaaabbbbccccdddd"))
	if !bytes.Equal(b1, b2) || q1.Encode() != q2.Encode() {
		t.Error("SafeWithRandom is not deterministic")
	}
}

// Decrypt must reject corrupt input with an error, never a panic.
func TestDecryptBounds(t *testing.T) {
	s := Signer{Token: "t", AppID: "wxkit", AESKey: keyAlpha}
	for _, in := range []string{"", "abc", "AAAA", "not base64!", strings.Repeat("A", 24)} {
		if _, _, err := s.Decrypt(in); err == nil {
			t.Errorf("Decrypt(%q) succeeded", in)
		}
	}
	// A length field claiming more than is there.
	enc, err := s.Encrypt([]byte("0123456789abcdef"), []byte("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := (Signer{AESKey: keyB}).Decrypt(enc); err == nil {
		t.Error("Decrypt with the wrong key succeeded")
	}
	if _, err := (Signer{AESKey: "short"}).Encrypt(make([]byte, 16), nil); err == nil {
		t.Error("Encrypt accepted a short key")
	}
}
