package wechat

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"nuanjia/bot"
)

// pushXML is every element of a push nuanjia reads. Numbers are read as
// text and checked here, so one odd field gives a clear refusal instead of
// an XML error, and fields of other push types are never looked at.
type pushXML struct {
	ToUserName   string `xml:"ToUserName"`
	FromUserName string `xml:"FromUserName"`
	CreateTime   string `xml:"CreateTime"`
	MsgType      string `xml:"MsgType"`
	MsgId        string `xml:"MsgId"` // messages
	MsgID        string `xml:"MsgID"` // the two job-finish events
	Content      string `xml:"Content"`
	Recognition  string `xml:"Recognition"`
	PicUrl       string `xml:"PicUrl"`
	MediaId      string `xml:"MediaId"`
	Format       string `xml:"Format"`
	ThumbMediaId string `xml:"ThumbMediaId"`
	LocationX    string `xml:"Location_X"`
	LocationY    string `xml:"Location_Y"`
	Label        string `xml:"Label"`
	Title        string `xml:"Title"`
	Description  string `xml:"Description"`
	Url          string `xml:"Url"`
	Event        string `xml:"Event"`
	EventKey     string `xml:"EventKey"`
	Latitude     string `xml:"Latitude"`
	Longitude    string `xml:"Longitude"`
	Status       string `xml:"Status"`
	TotalCount   string `xml:"TotalCount"`
	FilterCount  string `xml:"FilterCount"`
	SentCount    string `xml:"SentCount"`
	ErrorCount   string `xml:"ErrorCount"`
	SendLocation struct {
		LocationX string `xml:"Location_X"`
		LocationY string `xml:"Location_Y"`
		Scale     string `xml:"Scale"`
		Label     string `xml:"Label"`
		Poiname   string `xml:"Poiname"`
	} `xml:"SendLocationInfo"`

	// Kept in Inbound.Extra.
	Scale        string `xml:"Scale"`
	Precision    string `xml:"Precision"`
	Ticket       string `xml:"Ticket"`
	MenuId       string `xml:"MenuId"`
	FileKey      string `xml:"FileKey"`
	FileMd5      string `xml:"FileMd5"`
	FileTotalLen string `xml:"FileTotalLen"`
	ScanCode     struct {
		ScanType   string `xml:"ScanType"`
		ScanResult string `xml:"ScanResult"`
	} `xml:"ScanCodeInfo"`
	SendPics struct {
		Count string `xml:"Count"`
	} `xml:"SendPicsInfo"`
	SubscribePopup []struct {
		TemplateID string `xml:"TemplateId"`
		Status     string `xml:"SubscribeStatusString"`
		Scene      string `xml:"PopupScene"`
	} `xml:"SubscribeMsgPopupEvent>List"`
}

// Bounds on a push's fields, checked before anything reaches the database.
const (
	// maxOpenIDLen: WeChat's openids are 28 characters.
	maxOpenIDLen = 64
	// maxFieldLen caps ids, keys, URLs and formats.
	maxFieldLen = 2048
	// earliestCreateTime is before the first WeChat push (2012).
	earliestCreateTime = 1_300_000_000
	// maxFutureSkew: a CreateTime further ahead of our clock is bogus.
	maxFutureSkew = 24 * time.Hour
)

// ParsePush reads a push's plaintext XML into a bot.Inbound, keeping the
// fields that belong to its type and ignoring the rest. now bounds
// CreateTime.
func ParsePush(plain []byte, now time.Time) (bot.Inbound, error) {
	var x pushXML
	if err := xml.Unmarshal(plain, &x); err != nil {
		return bot.Inbound{}, refuse(http.StatusBadRequest, "malformed XML")
	}
	in := bot.Inbound{
		OpenID:    strings.TrimSpace(x.FromUserName),
		AccountID: strings.TrimSpace(x.ToUserName),
		Type:      strings.TrimSpace(x.MsgType),
	}
	if in.OpenID == "" || in.Type == "" {
		return bot.Inbound{}, refuse(http.StatusBadRequest, "push lacks FromUserName or MsgType")
	}
	if len(in.OpenID) > maxOpenIDLen || len(in.AccountID) > maxOpenIDLen || len(in.Type) > 32 {
		return bot.Inbound{}, refuse(http.StatusBadRequest, "FromUserName, ToUserName or MsgType too long")
	}
	created, err := strconv.ParseInt(strings.TrimSpace(x.CreateTime), 10, 64)
	if err != nil || created < earliestCreateTime || created > now.Add(maxFutureSkew).Unix() {
		return bot.Inbound{}, refuse(http.StatusBadRequest, "CreateTime missing or out of range")
	}
	in.At = time.Unix(created, 0)
	// Only messages carry MsgId: an event's stray one is a field of another
	// push type, neither read nor a reason to refuse the event.
	if msgID := strings.TrimSpace(x.MsgId); msgID != "" && in.Type != bot.TypeEvent {
		if in.MsgID, err = strconv.ParseInt(msgID, 10, 64); err != nil {
			return bot.Inbound{}, refuse(http.StatusBadRequest, "bad MsgId")
		}
	}

	switch in.Type {
	case bot.TypeText:
		in.Text = x.Content
	case bot.TypeVoice:
		in.Text, in.MediaID, in.Format = x.Recognition, x.MediaId, x.Format
	case bot.TypeImage:
		in.MediaID, in.PicURL = x.MediaId, x.PicUrl
	case bot.TypeVideo, bot.TypeShortVideo:
		in.MediaID, in.ThumbMediaID = x.MediaId, x.ThumbMediaId
	case bot.TypeLocation:
		in.Text = x.Label
		if in.Lat, in.Lng, err = coordinates(x.LocationX, x.LocationY); err != nil {
			return bot.Inbound{}, err
		}
		in.Located = true
		in.Extra = extra("Scale", x.Scale)
	case bot.TypeLink:
		in.Title, in.Description, in.URL = x.Title, x.Description, x.Url
		in.Text = x.Description // bot.Inbound.Text: a link's or file's Description
	case bot.TypeFile:
		in.Title, in.Description = x.Title, x.Description
		in.Text = x.Description
		in.Extra = extra("FileKey", x.FileKey, "FileMd5", x.FileMd5, "FileTotalLen", x.FileTotalLen)
	case bot.TypeEvent:
		if err := parseEvent(&in, &x); err != nil {
			return bot.Inbound{}, err
		}
	}
	// The bounds apply to what is kept, after the switch: checking the raw
	// elements refused a text push for a long stray <Event> or <Status> it
	// never uses. Texts and descriptions are bounded by the webhook's
	// MaxBody.
	fields := []string{in.MediaID, in.PicURL, in.Format, in.ThumbMediaID, in.URL, in.EventKey, in.Event, in.Job.Status}
	for _, v := range in.Extra {
		fields = append(fields, v)
	}
	for _, f := range fields {
		if len(f) > maxFieldLen {
			return bot.Inbound{}, refuse(http.StatusBadRequest, "a field is too long")
		}
	}
	in.DedupeKey = dedupeKey(in, plain)
	return in, nil
}

// parseEvent fills the fields of an event push.
func parseEvent(in *bot.Inbound, x *pushXML) error {
	in.Event = strings.TrimSpace(x.Event)
	if in.Event == "" {
		return refuse(http.StatusBadRequest, "event push lacks Event")
	}
	in.EventKey = x.EventKey
	var err error
	switch in.Event {
	case bot.EventSubscribe, bot.EventScan:
		in.Extra = extra("Ticket", x.Ticket)
	case bot.EventView:
		in.Extra = extra("MenuId", x.MenuId)
	case "scancode_push", "scancode_waitmsg":
		in.Extra = extra("ScanType", x.ScanCode.ScanType, "ScanResult", x.ScanCode.ScanResult)
	case "pic_sysphoto", "pic_photo_or_album", "pic_weixin":
		in.Extra = extra("Count", x.SendPics.Count)
	case "subscribe_msg_popup_event", "subscribe_msg_change_event", "subscribe_msg_sent_event":
		var choices []string
		for _, c := range x.SubscribePopup {
			choices = append(choices, strings.TrimSpace(c.TemplateID)+":"+strings.TrimSpace(c.Status))
		}
		in.Extra = extra("Subscribe", strings.Join(choices, ","))
	case bot.EventLocation:
		if in.Lat, in.Lng, err = coordinates(x.Latitude, x.Longitude); err != nil {
			return err
		}
		in.Located = true
		in.Extra = extra("Precision", x.Precision)
	case bot.EventLocationSelect:
		loc := x.SendLocation
		if in.Lat, in.Lng, err = coordinates(loc.LocationX, loc.LocationY); err != nil {
			return err
		}
		in.Located = true
		// bot.Inbound.Text is the POI name; WeChat's own sample sends an
		// empty Poiname, so the address (Label) stands in for it then.
		if in.Text = strings.TrimSpace(loc.Poiname); in.Text == "" {
			in.Text = strings.TrimSpace(loc.Label)
		}
		in.Extra = extra("Scale", loc.Scale, "Label", loc.Label, "Poiname", loc.Poiname)
	case bot.EventMassSendDone, bot.EventTemplSendDone:
		// The MsgID is the report's whole identity (its dedupe key): a
		// missing, zero or negative one is not WeChat's.
		if in.MsgID, err = strconv.ParseInt(strings.TrimSpace(x.MsgID), 10, 64); err != nil || in.MsgID <= 0 {
			return refuse(http.StatusBadRequest, "job report lacks MsgID")
		}
		in.Job = bot.JobReport{Status: x.Status, Total: count(x.TotalCount), Filtered: count(x.FilterCount),
			Sent: count(x.SentCount), Errors: count(x.ErrorCount)}
	}
	return nil
}

// extra collects name/value pairs for Inbound.Extra, leaving out empty
// values; nil when all are empty.
func extra(kv ...string) map[string]string {
	var m map[string]string
	for i := 0; i+1 < len(kv); i += 2 {
		if v := strings.TrimSpace(kv[i+1]); v != "" {
			if m == nil {
				m = map[string]string{}
			}
			m[kv[i]] = v
		}
	}
	return m
}

// coordinates reads a latitude and a longitude, finite and on the globe.
func coordinates(lat, lng string) (float64, float64, error) {
	la, err1 := strconv.ParseFloat(strings.TrimSpace(lat), 64)
	lo, err2 := strconv.ParseFloat(strings.TrimSpace(lng), 64)
	if err1 != nil || err2 != nil || math.IsNaN(la) || math.IsNaN(lo) || la < -90 || la > 90 || lo < -180 || lo > 180 {
		return 0, 0, refuse(http.StatusBadRequest, "location out of range")
	}
	return la, lo, nil
}

// count reads one of a job report's totals; WeChat leaves some out. The
// totals go to PostgreSQL integer columns: a value past int32 would fail
// the report's insert, so it is dropped like a missing one (no account has
// 2^31 followers).
func count(s string) int {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	if err != nil || n < 0 {
		return 0
	}
	return int(n)
}

// dedupeKey is what WeChat's retries of a push share, as its docs advise:
// MsgId for messages, MsgID for job reports, FromUserName+CreateTime for
// events. A message without a MsgId is keyed by its whole content too, so
// two messages in the same second stay two; a retry repeats the same bytes.
func dedupeKey(in bot.Inbound, plain []byte) string {
	created := strconv.FormatInt(in.At.Unix(), 10)
	switch {
	case in.IsJobReport():
		return "j:" + in.Event + ":" + strconv.FormatInt(in.MsgID, 10)
	case in.Type == bot.TypeEvent:
		return "e:" + in.OpenID + ":" + created + ":" + in.Event
	case in.MsgID != 0:
		return "m:" + strconv.FormatInt(in.MsgID, 10)
	}
	sum := sha256.Sum256(plain)
	return "h:" + in.OpenID + ":" + created + ":" + hex.EncodeToString(sum[:8])
}
