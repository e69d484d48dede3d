package wechat

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"nuanjia/bot"
)

// The pushes below are written the way WeChat sends them (the plaintext
// inside Encrypt): CDATA around strings, bare numbers, a newline between
// elements. Where the docs give an example its values are kept; CreateTimes
// the docs give as 123456789 are replaced by real ones, which ParsePush
// requires.

const (
	account = "gh_10f6c3c3ac5a"
	member  = "oyORnuP8q7ou2gfYjqLzSIWZf0rs"
	// created is the CreateTime of most pushes; pushNow is the clock.
	created = 1715943329
)

var pushNow = time.Unix(created+60, 0)

// push builds a push from its elements, one a line, as WeChat lays it out.
func push(typ string, elems ...string) string {
	return "<xml><ToUserName><![CDATA[" + account + "]]></ToUserName>\n" +
		"<FromUserName><![CDATA[" + member + "]]></FromUserName>\n" +
		"<CreateTime>" + strconv.Itoa(created) + "</CreateTime>\n" +
		"<MsgType><![CDATA[" + typ + "]]></MsgType>\n" +
		strings.Join(elems, "\n") + "\n</xml>"
}

// event builds an event push.
func event(name string, elems ...string) string {
	return push(bot.TypeEvent, append([]string{"<Event><![CDATA[" + name + "]]></Event>"}, elems...)...)
}

// base is the Inbound every push above starts from.
func base(typ string) bot.Inbound {
	return bot.Inbound{OpenID: member, AccountID: account, Type: typ, At: time.Unix(created, 0)}
}

func msgKey(id string) string { return "^m:" + id + "$" }
func eventKey(ev string) string {
	return "^" + regexp.QuoteMeta("e:"+member+":"+strconv.Itoa(created)+":"+ev) + "$"
}
func jobKey(ev, id string) string { return "^j:" + ev + ":" + id + "$" }

// hashKey is the form of a message without a MsgId: its sender, second and
// 8 bytes of the push's SHA-256.
var hashKey = "^" + regexp.QuoteMeta("h:"+member+":"+strconv.Itoa(created)+":") + "[0-9a-f]{16}$"

type pushCase struct {
	name string
	xml  string
	want func(in *bot.Inbound) // edits base(Type) into what ParsePush must give
	key  string                // a regexp the DedupeKey matches
}

// pushCases are real pushes of every message type and event WeChat
// documents.
var pushCases = []pushCase{
	// Messages.
	{
		// Vector C of the docs (§2.4): Tencent's sample plaintext, byte for
		// byte, with its own account, member and times.
		name: "text, Tencent's sample plaintext",
		xml: "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n" +
			"<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n" +
			"<CreateTime>1409735668</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n" +
			"<Content><![CDATA[abcdteT]]></Content>\n<MsgId>6054768590064713728</MsgId>\n</xml>",
		want: func(in *bot.Inbound) {
			in.Text, in.MsgID, in.At = "abcdteT", 6054768590064713728, time.Unix(1409735668, 0)
		},
		key: msgKey("6054768590064713728"),
	},
	{
		name: "text",
		xml:  push("text", "<Content><![CDATA[老板拖欠工资三个月了，怎么办？]]></Content>", "<MsgId>24567890123456789</MsgId>"),
		want: func(in *bot.Inbound) {
			in.Text, in.MsgID = "老板拖欠工资三个月了，怎么办？", 24567890123456789
		},
		key: msgKey("24567890123456789"),
	},
	{
		name: "text without MsgId",
		xml:  push("text", "<Content><![CDATA[你好]]></Content>"),
		want: func(in *bot.Inbound) { in.Text = "你好" },
		key:  hashKey,
	},
	{
		name: "text with MsgId 0",
		xml:  push("text", "<Content><![CDATA[你好]]></Content>", "<MsgId>0</MsgId>"),
		want: func(in *bot.Inbound) { in.Text = "你好" },
		key:  hashKey,
	},
	{
		name: "image",
		xml: push("image",
			"<PicUrl><![CDATA[http://mmbiz.qpic.cn/mmbiz_jpg/5kbPFV4ic1Nq8Sickz9ChsyvW7LhJoLBYXMe6tGicib1VgTMJ0s2GwD3A/0]]></PicUrl>",
			"<MsgId>24567890123456790</MsgId>",
			"<MediaId><![CDATA[Lk3yw5VLiqX0GY8p0Gyq1JcvXs5Fb2pGyD9-SBp_ZXrdQ_RHUxPIbt7aQhJXgJ3d]]></MediaId>"),
		want: func(in *bot.Inbound) {
			in.PicURL = "http://mmbiz.qpic.cn/mmbiz_jpg/5kbPFV4ic1Nq8Sickz9ChsyvW7LhJoLBYXMe6tGicib1VgTMJ0s2GwD3A/0"
			in.MediaID = "Lk3yw5VLiqX0GY8p0Gyq1JcvXs5Fb2pGyD9-SBp_ZXrdQ_RHUxPIbt7aQhJXgJ3d"
			in.MsgID = 24567890123456790
		},
		key: msgKey("24567890123456790"),
	},
	{
		name: "voice with Recognition",
		xml: push("voice", "<MediaId><![CDATA[media_id]]></MediaId>", "<Format><![CDATA[amr]]></Format>",
			"<Recognition><![CDATA[腾讯微信团队]]></Recognition>", "<MsgId>1234567890123456</MsgId>"),
		want: func(in *bot.Inbound) {
			in.MediaID, in.Format, in.Text, in.MsgID = "media_id", "amr", "腾讯微信团队", 1234567890123456
		},
		key: msgKey("1234567890123456"),
	},
	{
		name: "voice without Recognition",
		xml: push("voice", "<MediaId><![CDATA[media_id]]></MediaId>", "<Format><![CDATA[speex]]></Format>",
			"<MsgId>1234567890123457</MsgId>"),
		want: func(in *bot.Inbound) { in.MediaID, in.Format, in.MsgID = "media_id", "speex", 1234567890123457 },
		key:  msgKey("1234567890123457"),
	},
	{
		name: "voice with empty Recognition",
		xml: push("voice", "<MediaId><![CDATA[media_id]]></MediaId>", "<Format><![CDATA[amr]]></Format>",
			"<Recognition><![CDATA[]]></Recognition>", "<MsgId>1234567890123458</MsgId>"),
		want: func(in *bot.Inbound) { in.MediaID, in.Format, in.MsgID = "media_id", "amr", 1234567890123458 },
		key:  msgKey("1234567890123458"),
	},
	{
		name: "video",
		xml: push("video", "<MediaId><![CDATA[video_media_id]]></MediaId>",
			"<ThumbMediaId><![CDATA[thumb_media_id]]></ThumbMediaId>", "<MsgId>1234567890123459</MsgId>"),
		want: func(in *bot.Inbound) {
			in.MediaID, in.ThumbMediaID, in.MsgID = "video_media_id", "thumb_media_id", 1234567890123459
		},
		key: msgKey("1234567890123459"),
	},
	{
		name: "shortvideo",
		xml: push("shortvideo", "<MediaId><![CDATA[short_media_id]]></MediaId>",
			"<ThumbMediaId><![CDATA[short_thumb_id]]></ThumbMediaId>", "<MsgId>1234567890123460</MsgId>"),
		want: func(in *bot.Inbound) {
			in.MediaID, in.ThumbMediaID, in.MsgID = "short_media_id", "short_thumb_id", 1234567890123460
		},
		key: msgKey("1234567890123460"),
	},
	{
		name: "location",
		xml: push("location", "<Location_X>23.134521</Location_X>", "<Location_Y>113.358803</Location_Y>",
			"<Scale>20</Scale>", "<Label><![CDATA[位置信息]]></Label>", "<MsgId>1234567890123461</MsgId>"),
		want: func(in *bot.Inbound) {
			in.Extra = map[string]string{"Scale": "20"}
			in.Lat, in.Lng, in.Located, in.Text, in.MsgID = 23.134521, 113.358803, true, "位置信息", 1234567890123461
		},
		key: msgKey("1234567890123461"),
	},
	{
		name: "location in the southern and western hemispheres",
		xml: push("location", "<Location_X>-33.8688</Location_X>", "<Location_Y>-70.6693</Location_Y>",
			"<Scale>15</Scale>", "<Label><![CDATA[Santiago]]></Label>", "<MsgId>1234567890123462</MsgId>"),
		want: func(in *bot.Inbound) {
			in.Extra = map[string]string{"Scale": "15"}
			in.Lat, in.Lng, in.Located, in.Text, in.MsgID = -33.8688, -70.6693, true, "Santiago", 1234567890123462
		},
		key: msgKey("1234567890123462"),
	},
	{
		name: "link",
		xml: push("link", "<Title><![CDATA[农民工工资支付条例]]></Title>",
			"<Description><![CDATA[国务院令第724号，2020年5月1日起施行]]></Description>",
			"<Url><![CDATA[https://www.gov.cn/zhengce/content/2020-01/07/content_5467278.htm]]></Url>",
			"<MsgId>1234567890123463</MsgId>"),
		want: func(in *bot.Inbound) {
			in.Title, in.Description = "农民工工资支付条例", "国务院令第724号，2020年5月1日起施行"
			in.URL = "https://www.gov.cn/zhengce/content/2020-01/07/content_5467278.htm"
			in.Text, in.MsgID = in.Description, 1234567890123463
		},
		key: msgKey("1234567890123463"),
	},
	{
		name: "file",
		xml: push("file", "<Title><![CDATA[工资条.pdf]]></Title>", "<Description><![CDATA[三月工资条]]></Description>",
			"<FileKey><![CDATA[b7e5a4b1c2d3e4f5]]></FileKey>", "<FileMd5><![CDATA[8c8fa3529ee34d4e69a0baafb7069da3]]></FileMd5>",
			"<FileTotalLen>120722</FileTotalLen>", "<MsgId>1234567890123464</MsgId>"),
		want: func(in *bot.Inbound) {
			in.Extra = map[string]string{"FileKey": "b7e5a4b1c2d3e4f5", "FileMd5": "8c8fa3529ee34d4e69a0baafb7069da3", "FileTotalLen": "120722"}
			in.Title, in.Description, in.Text, in.MsgID = "工资条.pdf", "三月工资条", "三月工资条", 1234567890123464
		},
		key: msgKey("1234567890123464"),
	},
	{
		// A type WeChat may add later is kept with its envelope alone.
		name: "unknown message type",
		xml:  push("miniprogrampage", "<Title><![CDATA[小程序]]></Title>", "<MsgId>1234567890123465</MsgId>"),
		want: func(in *bot.Inbound) { in.MsgID = 1234567890123465 },
		key:  msgKey("1234567890123465"),
	},

	// Events.
	{
		name: "subscribe",
		xml:  event("subscribe"),
		want: func(in *bot.Inbound) { in.Event = bot.EventSubscribe },
		key:  eventKey("subscribe"),
	},
	{
		name: "subscribe with an empty EventKey",
		xml:  event("subscribe", "<EventKey><![CDATA[]]></EventKey>"),
		want: func(in *bot.Inbound) { in.Event = bot.EventSubscribe },
		key:  eventKey("subscribe"),
	},
	{
		name: "subscribe by a parametric QR code",
		xml: event("subscribe", "<EventKey><![CDATA[qrscene_123123]]></EventKey>",
			"<Ticket><![CDATA[gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw==]]></Ticket>"),
		want: func(in *bot.Inbound) {
			in.Event, in.EventKey = bot.EventSubscribe, "qrscene_123123"
			in.Extra = map[string]string{"Ticket": "gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw=="}
		},
		key: eventKey("subscribe"),
	},
	{
		name: "unsubscribe",
		xml:  event("unsubscribe", "<EventKey><![CDATA[]]></EventKey>"),
		want: func(in *bot.Inbound) { in.Event = bot.EventUnsubscribe },
		key:  eventKey("unsubscribe"),
	},
	{
		name: "SCAN",
		xml:  event("SCAN", "<EventKey><![CDATA[123123]]></EventKey>", "<Ticket><![CDATA[TICKET]]></Ticket>"),
		want: func(in *bot.Inbound) {
			in.Event, in.EventKey = bot.EventScan, "123123"
			in.Extra = map[string]string{"Ticket": "TICKET"}
		},
		key: eventKey("SCAN"),
	},
	{
		name: "LOCATION",
		xml: event("LOCATION", "<Latitude>23.137466</Latitude>", "<Longitude>113.352425</Longitude>",
			"<Precision>119.385040</Precision>"),
		want: func(in *bot.Inbound) {
			in.Extra = map[string]string{"Precision": "119.385040"}
			in.Event, in.Lat, in.Lng, in.Located = bot.EventLocation, 23.137466, 113.352425, true
		},
		key: eventKey("LOCATION"),
	},
	{
		name: "CLICK",
		xml:  event("CLICK", "<EventKey><![CDATA[HELP]]></EventKey>"),
		want: func(in *bot.Inbound) { in.Event, in.EventKey = bot.EventClick, "HELP" },
		key:  eventKey("CLICK"),
	},
	{
		name: "VIEW",
		xml:  event("VIEW", "<EventKey><![CDATA[www.qq.com]]></EventKey>", "<MenuId>MENUID</MenuId>"),
		want: func(in *bot.Inbound) {
			in.Event, in.EventKey = bot.EventView, "www.qq.com"
			in.Extra = map[string]string{"MenuId": "MENUID"}
		},
		key: eventKey("VIEW"),
	},
	{
		// WeChat's own sample: numbers in CDATA, an address with a leading
		// space, an empty Poiname.
		name: "location_select, empty Poiname",
		xml: event("location_select", "<EventKey><![CDATA[6]]></EventKey>",
			"<SendLocationInfo><Location_X><![CDATA[23]]></Location_X>\n<Location_Y><![CDATA[113]]></Location_Y>\n"+
				"<Scale><![CDATA[15]]></Scale>\n<Label><![CDATA[ 广州市海珠区客村艺苑路 106号]]></Label>\n"+
				"<Poiname><![CDATA[]]></Poiname>\n</SendLocationInfo>"),
		want: func(in *bot.Inbound) {
			in.Extra = map[string]string{"Label": "广州市海珠区客村艺苑路 106号", "Scale": "15"}
			in.Event, in.EventKey = bot.EventLocationSelect, "6"
			in.Lat, in.Lng, in.Located, in.Text = 23, 113, true, "广州市海珠区客村艺苑路 106号"
		},
		key: eventKey("location_select"),
	},
	{
		name: "location_select with a POI",
		xml: event("location_select", "<EventKey><![CDATA[rselfmenu_2_0]]></EventKey>",
			"<SendLocationInfo><Location_X><![CDATA[39.908823]]></Location_X>\n<Location_Y><![CDATA[116.397470]]></Location_Y>\n"+
				"<Scale><![CDATA[16]]></Scale>\n<Label><![CDATA[北京市东城区东长安街]]></Label>\n"+
				"<Poiname><![CDATA[天安门]]></Poiname>\n</SendLocationInfo>"),
		want: func(in *bot.Inbound) {
			in.Extra = map[string]string{"Label": "北京市东城区东长安街", "Poiname": "天安门", "Scale": "16"}
			in.Event, in.EventKey = bot.EventLocationSelect, "rselfmenu_2_0"
			in.Lat, in.Lng, in.Located, in.Text = 39.908823, 116.397470, true, "天安门"
		},
		key: eventKey("location_select"),
	},
	{
		name: "scancode_push",
		xml: event("scancode_push", "<EventKey><![CDATA[6]]></EventKey>",
			"<ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>\n<ScanResult><![CDATA[1]]></ScanResult>\n</ScanCodeInfo>"),
		want: func(in *bot.Inbound) {
			in.Event, in.EventKey = "scancode_push", "6"
			in.Extra = map[string]string{"ScanResult": "1", "ScanType": "qrcode"}
		},
		key: eventKey("scancode_push"),
	},
	{
		name: "scancode_waitmsg",
		xml: event("scancode_waitmsg", "<EventKey><![CDATA[6]]></EventKey>",
			"<ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>\n<ScanResult><![CDATA[2]]></ScanResult>\n</ScanCodeInfo>"),
		want: func(in *bot.Inbound) {
			in.Event, in.EventKey = "scancode_waitmsg", "6"
			in.Extra = map[string]string{"ScanResult": "2", "ScanType": "qrcode"}
		},
		key: eventKey("scancode_waitmsg"),
	},
	{
		name: "pic_sysphoto",
		xml: event("pic_sysphoto", "<EventKey><![CDATA[6]]></EventKey>",
			"<SendPicsInfo><Count>1</Count>\n<PicList><item><PicMd5Sum><![CDATA[1b5f7c23b5bf75682a53e7b6d163e185]]></PicMd5Sum>\n"+
				"</item>\n</PicList>\n</SendPicsInfo>"),
		want: func(in *bot.Inbound) {
			in.Event, in.EventKey = "pic_sysphoto", "6"
			in.Extra = map[string]string{"Count": "1"}
		},
		key: eventKey("pic_sysphoto"),
	},
	{
		name: "pic_photo_or_album",
		xml: event("pic_photo_or_album", "<EventKey><![CDATA[6]]></EventKey>",
			"<SendPicsInfo><Count>2</Count>\n<PicList><item><PicMd5Sum><![CDATA[5a75aaca956d97be686719218f275c6b]]></PicMd5Sum>\n"+
				"</item>\n<item><PicMd5Sum><![CDATA[1b5f7c23b5bf75682a53e7b6d163e185]]></PicMd5Sum>\n</item>\n</PicList>\n</SendPicsInfo>"),
		want: func(in *bot.Inbound) {
			in.Event, in.EventKey = "pic_photo_or_album", "6"
			in.Extra = map[string]string{"Count": "2"}
		},
		key: eventKey("pic_photo_or_album"),
	},
	{
		// WeChat's sample report, copyright check and article URLs included;
		// their nested Count and item elements must not leak into the totals.
		name: "MASSSENDJOBFINISH, WeChat's sample",
		xml: event("MASSSENDJOBFINISH", "<MsgID>1000001625</MsgID>", "<Status><![CDATA[err(30003)]]></Status>",
			"<TotalCount>0</TotalCount>", "<FilterCount>0</FilterCount>", "<SentCount>0</SentCount>", "<ErrorCount>0</ErrorCount>",
			"<CopyrightCheckResult>\n<Count>2</Count>\n<ResultList>\n<item>\n<ArticleIdx>1</ArticleIdx>\n"+
				"<UserDeclareState>0</UserDeclareState>\n<AuditState>2</AuditState>\n"+
				"<OriginalArticleUrl><![CDATA[Url_1]]></OriginalArticleUrl>\n<OriginalArticleType>1</OriginalArticleType>\n"+
				"<CanReprint>1</CanReprint>\n<NeedReplaceContent>1</NeedReplaceContent>\n<NeedShowReprintSource>1</NeedShowReprintSource>\n"+
				"</item>\n</ResultList>\n<CheckState>2</CheckState>\n</CopyrightCheckResult>",
			"<ArticleUrlResult>\n<Count>1</Count>\n<ResultList>\n<item>\n<ArticleIdx>1</ArticleIdx>\n"+
				"<ArticleUrl><![CDATA[http://mp.weixin.qq.com/s/abc]]></ArticleUrl>\n</item>\n</ResultList>\n</ArticleUrlResult>"),
		want: func(in *bot.Inbound) {
			in.Event, in.MsgID = bot.EventMassSendDone, 1000001625
			in.Job = bot.JobReport{Status: "err(30003)"}
		},
		key: jobKey("MASSSENDJOBFINISH", "1000001625"),
	},
	{
		// The real payload posted on WeChat's forum (§3.5 of the docs).
		name: "MASSSENDJOBFINISH, send success",
		xml: event("MASSSENDJOBFINISH", "<MsgID>3162228393</MsgID>", "<Status><![CDATA[send success]]></Status>",
			"<TotalCount>2</TotalCount>", "<FilterCount>1</FilterCount>", "<SentCount>1</SentCount>", "<ErrorCount>0</ErrorCount>",
			"<CopyrightCheckResult><Count>0</Count><ResultList></ResultList><CheckState>1</CheckState></CopyrightCheckResult>",
			"<ArticleUrlResult><Count>1</Count><ResultList><item><ArticleIdx>1</ArticleIdx>"+
				"<ArticleUrl><![CDATA[http://mp.weixin.qq.com/s/xyz]]></ArticleUrl></item></ResultList></ArticleUrlResult>"),
		want: func(in *bot.Inbound) {
			in.Event, in.MsgID = bot.EventMassSendDone, 3162228393
			in.Job = bot.JobReport{Status: "send success", Total: 2, Filtered: 1, Sent: 1}
		},
		key: jobKey("MASSSENDJOBFINISH", "3162228393"),
	},
	{
		name: "MASSSENDJOBFINISH, large send",
		xml: event("MASSSENDJOBFINISH", "<MsgID>1988</MsgID>", "<Status><![CDATA[sendsuccess]]></Status>",
			"<TotalCount>100</TotalCount>", "<FilterCount>80</FilterCount>", "<SentCount>75</SentCount>", "<ErrorCount>5</ErrorCount>"),
		want: func(in *bot.Inbound) {
			in.Event, in.MsgID = bot.EventMassSendDone, 1988
			in.Job = bot.JobReport{Status: "sendsuccess", Total: 100, Filtered: 80, Sent: 75, Errors: 5}
		},
		key: jobKey("MASSSENDJOBFINISH", "1988"),
	},
	{
		// Totals past PostgreSQL's integer would fail the report's insert;
		// they are dropped like missing ones.
		name: "MASSSENDJOBFINISH, totals out of range",
		xml: event("MASSSENDJOBFINISH", "<MsgID>1989</MsgID>", "<Status><![CDATA[send success]]></Status>",
			"<TotalCount>4294967296</TotalCount>", "<FilterCount>-1</FilterCount>", "<SentCount>abc</SentCount>",
			"<ErrorCount>2147483647</ErrorCount>"),
		want: func(in *bot.Inbound) {
			in.Event, in.MsgID = bot.EventMassSendDone, 1989
			in.Job = bot.JobReport{Status: "send success", Errors: math.MaxInt32}
		},
		key: jobKey("MASSSENDJOBFINISH", "1989"),
	},
	{
		name: "TEMPLATESENDJOBFINISH, success",
		xml:  event("TEMPLATESENDJOBFINISH", "<MsgID>200163836</MsgID>", "<Status><![CDATA[success]]></Status>"),
		want: func(in *bot.Inbound) {
			in.Event, in.MsgID, in.Job = bot.EventTemplSendDone, 200163836, bot.JobReport{Status: "success"}
		},
		key: jobKey("TEMPLATESENDJOBFINISH", "200163836"),
	},
	{
		name: "TEMPLATESENDJOBFINISH, user block",
		xml:  event("TEMPLATESENDJOBFINISH", "<MsgID>200163840</MsgID>", "<Status><![CDATA[failed:user block]]></Status>"),
		want: func(in *bot.Inbound) {
			in.Event, in.MsgID, in.Job = bot.EventTemplSendDone, 200163840, bot.JobReport{Status: "failed:user block"}
		},
		key: jobKey("TEMPLATESENDJOBFINISH", "200163840"),
	},
	{
		name: "TEMPLATESENDJOBFINISH, system failed",
		xml:  event("TEMPLATESENDJOBFINISH", "<MsgID>200163841</MsgID>", "<Status><![CDATA[failed: system failed]]></Status>"),
		want: func(in *bot.Inbound) {
			in.Event, in.MsgID, in.Job = bot.EventTemplSendDone, 200163841, bot.JobReport{Status: "failed: system failed"}
		},
		key: jobKey("TEMPLATESENDJOBFINISH", "200163841"),
	},
	{
		name: "subscribe_msg_popup_event",
		xml: event("subscribe_msg_popup_event",
			"<SubscribeMsgPopupEvent>\n<List>\n<TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>\n"+
				"<SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString>\n<PopupScene>2</PopupScene>\n</List>\n"+
				"<List>\n<TemplateId><![CDATA[9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI]]></TemplateId>\n"+
				"<SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString>\n<PopupScene>2</PopupScene>\n</List>\n"+
				"</SubscribeMsgPopupEvent>"),
		want: func(in *bot.Inbound) {
			in.Event = "subscribe_msg_popup_event"
			in.Extra = map[string]string{"Subscribe": "VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc:accept,9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI:reject"}
		},
		key: eventKey("subscribe_msg_popup_event"),
	},
	{
		name: "subscribe_msg_change_event",
		xml: event("subscribe_msg_change_event",
			"<SubscribeMsgChangeEvent>\n<List>\n<TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>\n"+
				"<SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString>\n</List>\n</SubscribeMsgChangeEvent>"),
		want: func(in *bot.Inbound) { in.Event = "subscribe_msg_change_event" },
		key:  eventKey("subscribe_msg_change_event"),
	},
	{
		name: "subscribe_msg_sent_event",
		xml: event("subscribe_msg_sent_event",
			"<SubscribeMsgSentEvent>\n<List>\n<TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>\n"+
				"<MsgID>1700827132819554304</MsgID>\n<ErrorCode>0</ErrorCode>\n<ErrorStatus><![CDATA[success]]></ErrorStatus>\n"+
				"</List>\n</SubscribeMsgSentEvent>"),
		// The nested MsgID is the notification's, not a job report's.
		want: func(in *bot.Inbound) { in.Event = "subscribe_msg_sent_event" },
		key:  eventKey("subscribe_msg_sent_event"),
	},
	{
		// Vector E of the docs: the debug event of the docs' worked example.
		name: "unknown event, the docs' debug_demo",
		xml: "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>\n" +
			"<FromUserName><![CDATA[o9AgO5Kd5ggOC-bXrbNODIiE3bGY]]></FromUserName>\n" +
			"<CreateTime>1715943329</CreateTime>\n<MsgType><![CDATA[event]]></MsgType>\n" +
			"<Event><![CDATA[debug_demo]]></Event>\n<debug_str><![CDATA[hello world]]></debug_str>\n</xml>",
		want: func(in *bot.Inbound) {
			in.OpenID, in.AccountID, in.Event = "o9AgO5Kd5ggOC-bXrbNODIiE3bGY", "gh_97417a04a28d", "debug_demo"
		},
		key: "^" + regexp.QuoteMeta("e:o9AgO5Kd5ggOC-bXrbNODIiE3bGY:1715943329:debug_demo") + "$",
	},

	// Fields of other push types are never read.
	{
		name: "text with a stray Event",
		xml: push("text", "<Content><![CDATA[退订]]></Content>", "<Event><![CDATA[unsubscribe]]></Event>",
			"<EventKey><![CDATA[qrscene_7]]></EventKey>", "<MsgId>1234567890123466</MsgId>"),
		want: func(in *bot.Inbound) { in.Text, in.MsgID = "退订", 1234567890123466 },
		key:  msgKey("1234567890123466"),
	},
	{
		name: "image with a stray Event and MsgID",
		xml: push("image", "<PicUrl><![CDATA[http://mmbiz.qpic.cn/x/0]]></PicUrl>", "<MediaId><![CDATA[m1]]></MediaId>",
			"<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>", "<MsgID>99</MsgID>", "<Status><![CDATA[success]]></Status>",
			"<MsgId>1234567890123467</MsgId>"),
		want: func(in *bot.Inbound) {
			in.PicURL, in.MediaID, in.MsgID = "http://mmbiz.qpic.cn/x/0", "m1", 1234567890123467
		},
		key: msgKey("1234567890123467"),
	},
	{
		name: "text with location, media and link fields",
		xml: push("text", "<Content><![CDATA[我在工地]]></Content>", "<Location_X>23.1</Location_X>", "<Location_Y>113.3</Location_Y>",
			"<Latitude>23.1</Latitude>", "<Longitude>113.3</Longitude>", "<Label><![CDATA[工地]]></Label>",
			"<MediaId><![CDATA[m]]></MediaId>", "<PicUrl><![CDATA[http://p]]></PicUrl>", "<Format><![CDATA[amr]]></Format>",
			"<ThumbMediaId><![CDATA[t]]></ThumbMediaId>", "<Title><![CDATA[t]]></Title>", "<Description><![CDATA[d]]></Description>",
			"<Url><![CDATA[http://u]]></Url>", "<Recognition><![CDATA[r]]></Recognition>", "<MsgId>1234567890123468</MsgId>"),
		want: func(in *bot.Inbound) { in.Text, in.MsgID = "我在工地", 1234567890123468 },
		key:  msgKey("1234567890123468"),
	},
	{
		// Bad values in fields the type does not use are no reason to refuse.
		name: "text with garbage in other types' fields",
		xml: push("text", "<Content><![CDATA[hi]]></Content>", "<Location_X>NaN</Location_X>", "<Latitude>Inf</Latitude>",
			"<MsgID>abc</MsgID>", "<Event>"+strings.Repeat("E", 3000)+"</Event>", "<Status>"+strings.Repeat("S", 3000)+"</Status>",
			"<MsgId>1234567890123469</MsgId>"),
		want: func(in *bot.Inbound) { in.Text, in.MsgID = "hi", 1234567890123469 },
		key:  msgKey("1234567890123469"),
	},
	{
		name: "voice with a Content",
		xml: push("voice", "<MediaId><![CDATA[v]]></MediaId>", "<Format><![CDATA[amr]]></Format>",
			"<Content><![CDATA[not said]]></Content>", "<MsgId>1234567890123470</MsgId>"),
		want: func(in *bot.Inbound) { in.MediaID, in.Format, in.MsgID = "v", "amr", 1234567890123470 },
		key:  msgKey("1234567890123470"),
	},
	{
		name: "location with an event's Latitude",
		xml: push("location", "<Location_X>23.134521</Location_X>", "<Location_Y>113.358803</Location_Y>",
			"<Latitude>NaN</Latitude>", "<Longitude>999</Longitude>", "<Label><![CDATA[位置]]></Label>", "<MsgId>1234567890123471</MsgId>"),
		want: func(in *bot.Inbound) {
			in.Lat, in.Lng, in.Located, in.Text, in.MsgID = 23.134521, 113.358803, true, "位置", 1234567890123471
		},
		key: msgKey("1234567890123471"),
	},
	{
		name: "LOCATION event with a message's Location_X",
		xml: event("LOCATION", "<Latitude>23.137466</Latitude>", "<Longitude>113.352425</Longitude>",
			"<Location_X>NaN</Location_X>", "<Label><![CDATA[not kept]]></Label>"),
		want: func(in *bot.Inbound) {
			in.Event, in.Lat, in.Lng, in.Located = bot.EventLocation, 23.137466, 113.352425, true
		},
		key: eventKey("LOCATION"),
	},
	{
		name: "CLICK with message and job fields",
		xml: event("CLICK", "<EventKey><![CDATA[HELP]]></EventKey>", "<Content><![CDATA[x]]></Content>",
			"<MsgId>not-a-number</MsgId>", "<MsgID>5</MsgID>", "<Status><![CDATA[success]]></Status>", "<TotalCount>9</TotalCount>",
			"<MediaId><![CDATA[m]]></MediaId>", "<Latitude>23</Latitude>", "<Longitude>113</Longitude>"),
		want: func(in *bot.Inbound) { in.Event, in.EventKey = bot.EventClick, "HELP" },
		key:  eventKey("CLICK"),
	},
	{
		name: "subscribe with a top-level Location_X",
		xml:  event("subscribe", "<Location_X>23</Location_X>", "<Location_Y>113</Location_Y>"),
		want: func(in *bot.Inbound) { in.Event = bot.EventSubscribe },
		key:  eventKey("subscribe"),
	},
}

var msgTypeRE = regexp.MustCompile(`<MsgType><!\[CDATA\[([^\]]*)\]\]></MsgType>`)

func TestParsePush(t *testing.T) {
	for _, tc := range pushCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePush([]byte(tc.xml), pushNow)
			if err != nil {
				t.Fatalf("ParsePush: %v", err)
			}
			m := msgTypeRE.FindStringSubmatch(tc.xml)
			if m == nil {
				t.Fatal("the push has no MsgType")
			}
			want := base(m[1])
			tc.want(&want)
			if !regexp.MustCompile(tc.key).MatchString(got.DedupeKey) {
				t.Errorf("DedupeKey = %q, want the form %s", got.DedupeKey, tc.key)
			}
			got.DedupeKey = ""
			for _, d := range diffInbound(got, want) {
				t.Error(d)
			}
		})
	}
}

// diffInbound lists the fields in which got differs from want.
func diffInbound(got, want bot.Inbound) []string {
	var diffs []string
	if !got.At.Equal(want.At) {
		diffs = append(diffs, fmt.Sprintf("At = %v, want %v", got.At, want.At))
	}
	got.At, want.At = time.Time{}, time.Time{}
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := 0; i < g.NumField(); i++ {
		if !reflect.DeepEqual(g.Field(i).Interface(), w.Field(i).Interface()) {
			diffs = append(diffs, fmt.Sprintf("%s = %#v, want %#v", g.Type().Field(i).Name, g.Field(i).Interface(), w.Field(i).Interface()))
		}
	}
	return diffs
}

// A retry of WeChat's is the same push again; two pushes are two, even in
// the same second from the same member.
func TestParsePushDedupe(t *testing.T) {
	key := func(t *testing.T, xml string) string {
		t.Helper()
		in, err := ParsePush([]byte(xml), pushNow)
		if err != nil {
			t.Fatalf("ParsePush: %v", err)
		}
		return in.DedupeKey
	}
	mass := func(id string) string {
		return event("MASSSENDJOBFINISH", "<MsgID>"+id+"</MsgID>", "<Status><![CDATA[send success]]></Status>",
			"<TotalCount>2</TotalCount>", "<FilterCount>2</FilterCount>", "<SentCount>2</SentCount>", "<ErrorCount>0</ErrorCount>")
	}
	tmpl := func(id string) string {
		return event("TEMPLATESENDJOBFINISH", "<MsgID>"+id+"</MsgID>", "<Status><![CDATA[success]]></Status>")
	}
	text := func(content string, more ...string) string {
		return push("text", append([]string{"<Content><![CDATA[" + content + "]]></Content>"}, more...)...)
	}
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		// The old parser keyed job reports like events and merged these.
		{"two mass-send reports in one second", mass("1000001625"), mass("1000001626"), false},
		{"two template reports in one second", tmpl("200163836"), tmpl("200163837"), false},
		{"a mass-send report retried", mass("1000001625"), mass("1000001625"), true},
		{"a template report retried", tmpl("200163836"), tmpl("200163836"), true},
		{"a mass and a template report with the same MsgID", mass("42"), tmpl("42"), false},
		{"two texts without MsgId in one second", text("工资"), text("工伤"), false},
		{"a text without MsgId retried", text("工资"), text("工资"), true},
		{"two texts with MsgId 0 in one second", text("工资", "<MsgId>0</MsgId>"), text("工伤", "<MsgId>0</MsgId>"), false},
		{"two texts with MsgIds in one second", text("a", "<MsgId>11</MsgId>"), text("a", "<MsgId>12</MsgId>"), false},
		{"a text with MsgId retried", text("a", "<MsgId>11</MsgId>"), text("a", "<MsgId>11</MsgId>"), true},
		{"two images without MsgId in one second",
			push("image", "<PicUrl><![CDATA[http://p/1]]></PicUrl>", "<MediaId><![CDATA[m1]]></MediaId>"),
			push("image", "<PicUrl><![CDATA[http://p/2]]></PicUrl>", "<MediaId><![CDATA[m2]]></MediaId>"), false},
		{"an event retried", event("CLICK", "<EventKey><![CDATA[HELP]]></EventKey>"),
			event("CLICK", "<EventKey><![CDATA[HELP]]></EventKey>"), true},
		{"two kinds of event in one second", event("subscribe"), event("CLICK", "<EventKey><![CDATA[HELP]]></EventKey>"), false},
		{"a message and an event in one second", text("a"), event("subscribe"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ka, kb := key(t, tc.a), key(t, tc.b)
			if (ka == kb) != tc.same {
				t.Errorf("keys %q and %q: same = %v, want %v", ka, kb, ka == kb, tc.same)
			}
		})
	}

	// Another member's message in the same second, same content, is theirs.
	other := strings.Replace(text("工资"), member, "oAnotherMember0000000000000", 1)
	if key(t, other) == key(t, text("工资")) {
		t.Error("two members' texts without MsgId share a key")
	}
}

func TestParsePushRefusals(t *testing.T) {
	long := strings.Repeat("o", 10<<10)
	withTime := func(ct string) string {
		return strings.Replace(push("text", "<Content><![CDATA[hi]]></Content>"),
			"<CreateTime>"+strconv.Itoa(created)+"</CreateTime>", ct, 1)
	}
	location := func(x, y string) string {
		return push("location", "<Location_X>"+x+"</Location_X>", "<Location_Y>"+y+"</Location_Y>",
			"<Label><![CDATA[x]]></Label>", "<MsgId>1</MsgId>")
	}
	locEvent := func(lat, lng string) string {
		return event("LOCATION", "<Latitude>"+lat+"</Latitude>", "<Longitude>"+lng+"</Longitude>", "<Precision>10</Precision>")
	}
	selectEvent := func(x, y string) string {
		return event("location_select", "<EventKey><![CDATA[6]]></EventKey>",
			"<SendLocationInfo><Location_X><![CDATA["+x+"]]></Location_X>\n<Location_Y><![CDATA["+y+"]]></Location_Y>\n"+
				"<Label><![CDATA[x]]></Label>\n<Poiname><![CDATA[]]></Poiname>\n</SendLocationInfo>")
	}
	tests := []struct {
		name   string
		xml    string
		reason string // a part of the refusal's reason
	}{
		{"empty body", "", "malformed XML"},
		{"success", "success", "malformed XML"},
		{"JSON", `{"ToUserName":"gh_x","MsgType":"text"}`, "malformed XML"},
		{"truncated", push("text", "<Content><![CDATA[hi]]></Content>")[:80], "malformed XML"},
		{"unclosed CDATA", push("text", "<Content><![CDATA[hi</Content>"), "malformed XML"},
		{"mismatched tags", push("text", "<Content>hi</Contents>"), "malformed XML"},
		{"illegal character", push("text", "<Content>a&#0;b</Content>"), "malformed XML"},
		{"invalid UTF-8", push("text", "<Content>a\xffb</Content>"), "malformed XML"},

		{"no FromUserName", strings.Replace(push("text", "<Content>hi</Content>"),
			"<FromUserName><![CDATA["+member+"]]></FromUserName>", "", 1), "FromUserName"},
		{"blank FromUserName", strings.Replace(push("text", "<Content>hi</Content>"), member, "  ", 1), "FromUserName"},
		{"no MsgType", strings.Replace(push("text", "<Content>hi</Content>"), "<MsgType><![CDATA[text]]></MsgType>", "", 1), "MsgType"},
		{"empty MsgType", push("", "<Content>hi</Content>"), "MsgType"},
		{"10 KB openid", strings.Replace(push("text", "<Content>hi</Content>"), member, long, 1), "too long"},
		{"65-byte openid", strings.Replace(push("text", "<Content>hi</Content>"), member, strings.Repeat("o", 65), 1), "too long"},
		{"10 KB ToUserName", strings.Replace(push("text", "<Content>hi</Content>"), account, long, 1), "too long"},
		{"long MsgType", push(strings.Repeat("t", 33), "<Content>hi</Content>"), "too long"},

		{"no CreateTime", withTime(""), "CreateTime"},
		{"empty CreateTime", withTime("<CreateTime></CreateTime>"), "CreateTime"},
		{"CreateTime 0", withTime("<CreateTime>0</CreateTime>"), "CreateTime"},
		{"CreateTime 10^15", withTime("<CreateTime>1000000000000000</CreateTime>"), "CreateTime"},
		{"CreateTime negative", withTime("<CreateTime>-1715943329</CreateTime>"), "CreateTime"},
		{"CreateTime past int64", withTime("<CreateTime>99999999999999999999</CreateTime>"), "CreateTime"},
		{"CreateTime not a number", withTime("<CreateTime>yesterday</CreateTime>"), "CreateTime"},
		{"CreateTime fractional", withTime("<CreateTime>1715943329.5</CreateTime>"), "CreateTime"},
		{"CreateTime before WeChat", withTime("<CreateTime>123456789</CreateTime>"), "CreateTime"},
		{"CreateTime two days ahead", withTime("<CreateTime>" + strconv.FormatInt(pushNow.Add(48*time.Hour).Unix(), 10) + "</CreateTime>"), "CreateTime"},

		{"latitude NaN", location("NaN", "113.3"), "location"},
		{"longitude NaN", location("23.1", "nan"), "location"},
		{"latitude +Inf", location("+Inf", "113.3"), "location"},
		{"longitude -Inf", location("23.1", "-Inf"), "location"},
		{"latitude Infinity", location("Infinity", "113.3"), "location"},
		{"latitude overflowing float64", location("1e400", "113.3"), "location"},
		{"latitude 90.5", location("90.5", "113.3"), "location"},
		{"latitude -91", location("-91", "113.3"), "location"},
		{"longitude 180.1", location("23.1", "180.1"), "location"},
		{"longitude -181", location("23.1", "-181"), "location"},
		{"location without coordinates", push("location", "<Label><![CDATA[x]]></Label>", "<MsgId>1</MsgId>"), "location"},
		{"location with words", location("north", "east"), "location"},
		{"LOCATION NaN", locEvent("NaN", "113.352425"), "location"},
		{"LOCATION Inf", locEvent("23.137466", "Inf"), "location"},
		{"LOCATION off the globe", locEvent("123.137466", "113.352425"), "location"},
		{"LOCATION without coordinates", event("LOCATION", "<Precision>10</Precision>"), "location"},
		{"location_select NaN in CDATA", selectEvent("NaN", "113"), "location"},
		{"location_select Infinity in CDATA", selectEvent("23", "-Infinity"), "location"},
		{"location_select off the globe", selectEvent("23", "200"), "location"},
		{"location_select without SendLocationInfo", event("location_select", "<EventKey><![CDATA[6]]></EventKey>",
			"<Location_X>23</Location_X>", "<Location_Y>113</Location_Y>"), "location"},

		{"MASSSENDJOBFINISH without MsgID", event("MASSSENDJOBFINISH", "<Status><![CDATA[send success]]></Status>",
			"<TotalCount>2</TotalCount>"), "MsgID"},
		{"TEMPLATESENDJOBFINISH without MsgID", event("TEMPLATESENDJOBFINISH", "<Status><![CDATA[success]]></Status>"), "MsgID"},
		{"job report with a message's MsgId", event("TEMPLATESENDJOBFINISH", "<MsgId>200163836</MsgId>",
			"<Status><![CDATA[success]]></Status>"), "MsgID"},
		{"job report with MsgID 0", event("TEMPLATESENDJOBFINISH", "<MsgID>0</MsgID>", "<Status><![CDATA[success]]></Status>"), "MsgID"},
		{"job report with a negative MsgID", event("MASSSENDJOBFINISH", "<MsgID>-7</MsgID>", "<Status><![CDATA[send success]]></Status>"), "MsgID"},
		{"job report with MsgID not a number", event("MASSSENDJOBFINISH", "<MsgID>abc</MsgID>", "<Status><![CDATA[send success]]></Status>"), "MsgID"},

		{"MsgId not a number", push("text", "<Content>hi</Content>", "<MsgId>abc</MsgId>"), "MsgId"},
		{"MsgId past int64", push("text", "<Content>hi</Content>", "<MsgId>99999999999999999999</MsgId>"), "MsgId"},
		{"MsgId fractional", push("image", "<MediaId><![CDATA[m]]></MediaId>", "<MsgId>1.5</MsgId>"), "MsgId"},

		{"event without Event", push("event", "<EventKey><![CDATA[HELP]]></EventKey>"), "Event"},
		{"event with a blank Event", event(" ", "<EventKey><![CDATA[HELP]]></EventKey>"), "Event"},
		{"3 KB MediaId", push("image", "<MediaId><![CDATA["+strings.Repeat("m", 3000)+"]]></MediaId>", "<MsgId>1</MsgId>"), "too long"},
		{"3 KB EventKey", event("CLICK", "<EventKey><![CDATA["+strings.Repeat("k", 3000)+"]]></EventKey>"), "too long"},
		{"3 KB Url", push("link", "<Url><![CDATA[http://"+strings.Repeat("u", 3000)+"]]></Url>", "<MsgId>1</MsgId>"), "too long"},
		{"3 KB job Status", event("TEMPLATESENDJOBFINISH", "<MsgID>1</MsgID>", "<Status>"+strings.Repeat("s", 3000)+"</Status>"), "too long"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, err := ParsePush([]byte(tc.xml), pushNow)
			if err == nil {
				t.Fatalf("accepted: %+v", in)
			}
			var ref *refusal
			if !errors.As(err, &ref) {
				t.Fatalf("error %v (%T) is not a *refusal", err, err)
			}
			if ref.status != http.StatusBadRequest && ref.status != http.StatusRequestEntityTooLarge {
				t.Errorf("status %d, want 400 or 413", ref.status)
			}
			if !strings.Contains(ref.reason, tc.reason) {
				t.Errorf("reason %q does not say %q", ref.reason, tc.reason)
			}
			// The reason goes back to whoever sent the request: short, and
			// never the push's own content.
			if len(ref.reason) > 80 || strings.Contains(ref.reason, member) {
				t.Errorf("reason %q is not a short fixed text", ref.reason)
			}
			if !reflect.DeepEqual(in, bot.Inbound{}) {
				t.Errorf("a refused push still gave %+v", in)
			}
		})
	}
}

func FuzzParsePush(f *testing.F) {
	for _, tc := range pushCases {
		f.Add([]byte(tc.xml))
	}
	for _, s := range []string{
		"", "<xml></xml>", push("location", "<Location_X>NaN</Location_X>", "<Location_Y>1</Location_Y>"),
		event("location_select", "<SendLocationInfo><Location_X><![CDATA[1e400]]></Location_X></SendLocationInfo>"),
		event("MASSSENDJOBFINISH", "<MsgID>0</MsgID>"), push("text", "<MsgId>-1</MsgId>"),
		strings.Replace(push("text"), member, strings.Repeat("o", 65), 1),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, plain []byte) {
		in, err := ParsePush(plain, pushNow)
		if err != nil {
			var ref *refusal
			if !errors.As(err, &ref) || ref.reason == "" ||
				(ref.status != http.StatusBadRequest && ref.status != http.StatusRequestEntityTooLarge) {
				t.Fatalf("error %#v is not a 400/413 refusal with a reason", err)
			}
			return
		}
		if in.DedupeKey == "" {
			t.Fatal("accepted push has no DedupeKey")
		}
		if in.OpenID == "" || len(in.OpenID) > maxOpenIDLen {
			t.Fatalf("accepted openid of %d bytes", len(in.OpenID))
		}
		if in.Type == "" || len(in.AccountID) > maxOpenIDLen {
			t.Fatalf("accepted Type %q, AccountID of %d bytes", in.Type, len(in.AccountID))
		}
		for _, v := range []float64{in.Lat, in.Lng} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("accepted coordinates %v, %v", in.Lat, in.Lng)
			}
		}
		if in.Lat < -90 || in.Lat > 90 || in.Lng < -180 || in.Lng > 180 {
			t.Fatalf("accepted coordinates %v, %v off the globe", in.Lat, in.Lng)
		}
		if !in.Located && (in.Lat != 0 || in.Lng != 0) {
			t.Fatalf("coordinates %v, %v without Located", in.Lat, in.Lng)
		}
		if in.At.Unix() < earliestCreateTime || in.At.After(pushNow.Add(maxFutureSkew)) {
			t.Fatalf("accepted CreateTime %d", in.At.Unix())
		}
		if in.Type != bot.TypeEvent && (in.Event != "" || in.EventKey != "" || in.Job != (bot.JobReport{})) {
			t.Fatalf("a %q message has event fields: %+v", in.Type, in)
		}
		if in.IsJobReport() && in.MsgID <= 0 {
			t.Fatalf("job report with MsgID %d", in.MsgID)
		}
		for _, n := range []int{in.Job.Total, in.Job.Filtered, in.Job.Sent, in.Job.Errors} {
			if n < 0 || n > math.MaxInt32 {
				t.Fatalf("job total %d does not fit PostgreSQL's integer", n)
			}
		}
		for _, s := range []string{in.MediaID, in.PicURL, in.Format, in.ThumbMediaID, in.URL, in.EventKey, in.Event, in.Job.Status} {
			if len(s) > maxFieldLen {
				t.Fatalf("accepted a field of %d bytes", len(s))
			}
		}
		// The key is a function of the push alone: a retry gets it again.
		again, err := ParsePush(plain, pushNow.Add(time.Minute))
		if err != nil || again.DedupeKey != in.DedupeKey {
			t.Fatalf("the same push parsed again gave key %q (%v), first %q", again.DedupeKey, err, in.DedupeKey)
		}
	})
}
