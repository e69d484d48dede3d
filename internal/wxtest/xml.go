package wxtest

import (
	"strconv"
	"strings"
)

// The builders below return pushes shaped like WeChat's: string fields in
// CDATA, numbers bare, one element per line as in the encrypted plaintext
// Tencent's vectors show (the webhook must not depend on either layout).
// "from" is the member's OpenID (FromUserName), "to" the account's gh_ id.

// Text is a text message push.
func Text(from, to, content string, msgID, ts int64) string {
	return push(from, to, ts, "text",
		"Content", cdata(content),
		"MsgId", i64(msgID))
}

// Voice is a voice message push with speech recognition on. WeChat may send
// an empty Recognition, so tests should try "" too.
func Voice(from, to, recognition string, msgID, ts int64) string {
	return push(from, to, ts, "voice",
		"MediaId", cdata("media_voice_"+i64(msgID)),
		"Format", cdata("amr"),
		"Recognition", cdata(recognition),
		"MsgId", i64(msgID))
}

// Location is a location message push: Location_X is the latitude and
// Location_Y the longitude, with the six decimals WeChat sends.
func Location(from, to string, lat, lng float64, label string, msgID, ts int64) string {
	return push(from, to, ts, "location",
		"Location_X", f6(lat),
		"Location_Y", f6(lng),
		"Scale", "15",
		"Label", cdata(label),
		"MsgId", i64(msgID))
}

// Image is an image message push.
func Image(from, to, picURL string, msgID, ts int64) string {
	return push(from, to, ts, "image",
		"PicUrl", cdata(picURL),
		"MediaId", cdata("media_image_"+i64(msgID)),
		"MsgId", i64(msgID))
}

// Event is an event push (subscribe, unsubscribe, SCAN, CLICK, VIEW…).
// EventKey is always present, empty for a plain follow, as in real pushes;
// QR-code follows and scans also carry a Ticket.
func Event(from, to, event, eventKey string, ts int64) string {
	kv := []string{"Event", cdata(event), "EventKey", cdata(eventKey)}
	if event == "SCAN" || strings.HasPrefix(eventKey, "qrscene_") {
		kv = append(kv, "Ticket", cdata("ticket_"+eventKey))
	}
	return push(from, to, ts, "event", kv...)
}

// JobFinish is a MASSSENDJOBFINISH or TEMPLATESENDJOBFINISH push. These two
// events spell the id <MsgID>, unlike normal messages' <MsgId>; the parser
// must read both. MASSSENDJOBFINISH also gets fixed placeholder counts
// (2 total, 2 sent, 0 errors), which nuanjia does not read.
func JobFinish(from, to, event string, msgID int64, status string, ts int64) string {
	kv := []string{"Event", cdata(event), "MsgID", i64(msgID), "Status", cdata(status)}
	if event == "MASSSENDJOBFINISH" {
		kv = append(kv, "TotalCount", "2", "FilterCount", "2", "SentCount", "2", "ErrorCount", "0")
	}
	return push(from, to, ts, "event", kv...)
}

// LocationEvent is the LOCATION event WeChat sends when a member lets the
// account see where they are.
func LocationEvent(from, to string, lat, lng, precision float64, ts int64) string {
	return push(from, to, ts, "event",
		"Event", cdata("LOCATION"),
		"Latitude", f6(lat),
		"Longitude", f6(lng),
		"Precision", f6(precision))
}

// push assembles the common header and the given element/value pairs;
// values are already escaped (CDATA or numbers).
func push(from, to string, ts int64, msgType string, kv ...string) string {
	var b strings.Builder
	b.WriteString("<xml><ToUserName>" + cdata(to) + "</ToUserName>\n")
	b.WriteString("<FromUserName>" + cdata(from) + "</FromUserName>\n")
	b.WriteString("<CreateTime>" + i64(ts) + "</CreateTime>\n")
	b.WriteString("<MsgType>" + cdata(msgType) + "</MsgType>\n")
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteString("<" + kv[i] + ">" + kv[i+1] + "</" + kv[i] + ">\n")
	}
	b.WriteString("</xml>")
	return b.String()
}

// cdata wraps s in CDATA. A "]]>" inside s would end the section early, so
// it is split across two sections, the standard escape.
func cdata(s string) string {
	return "<![CDATA[" + strings.ReplaceAll(s, "]]>", "]]]]><![CDATA[>") + "]]>"
}

func i64(n int64) string { return strconv.FormatInt(n, 10) }

func f6(f float64) string { return strconv.FormatFloat(f, 'f', 6, 64) }
