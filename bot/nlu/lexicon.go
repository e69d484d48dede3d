package nlu

import "nuanjia/bot"

// cue is one intent cue: a word or phrase as members write it (simplified,
// after normalisation) and how strongly it points at an intent. Weights:
// 3 — on its own names the intent; 2 — a strong hint; 1 — colour.
// Greeting cues are deliberately weak so that "你好 我工资没拿到" is help.
type cue struct {
	word   string
	intent bot.Intent
	weight float64
}

// cues returns the intent lexicon. It is a function, not a package
// variable, so nothing shared can be mutated; New copies it into its maps.
func cues() []cue {
	var out []cue
	add := func(in bot.Intent, w float64, words ...string) {
		for _, s := range words {
			out = append(out, cue{s, in, w})
		}
	}
	add(bot.IntentHelp, 3,
		"求助", "求救", "救命", "帮帮我", "帮帮忙", "帮我", "请帮", "救救",
		"拖欠", "欠薪", "讨薪", "欠工资", "欠我工资", "不给工资", "工资没发", "没发工资", "不发工资", "拿不到工资",
		"要不到钱", "不给钱", "扣工资", "克扣", "结工钱", "工钱", "老板跑了", "包工头", "黑心",
		"工伤", "受伤", "摔伤", "砸伤", "压伤", "烫伤", "骨折", "流血", "断了", "车祸", "出事了", "出事",
		"被打", "打人", "打我", "家暴", "欺负", "霸凌", "威胁", "被抢", "被偷",
		"被骗", "诈骗", "骗子", "骗了", "骗钱", "传销",
		"维权", "投诉", "打官司", "纠纷", "赔偿", "报警", "律师", "法律援助",
		"没饭吃", "吃不上饭", "饿肚子", "饿着", "挨饿", "没米", "没吃的", "揭不开锅", "没地方住", "流落街头", "露宿", "被赶出来", "无家可归",
		"住院", "生病", "病了", "发烧", "看病", "看不起病", "医药费", "急救",
		"失业", "找工作", "找不到工作", "被辞退", "辞退", "开除", "找活",
		"开店", "门面", "做生意", "生意不好", "创业", "贷款", "借钱",
		"上不了学", "不让上学", "不收我", "学校不收", "没学上", "辍学",
		"走丢", "失踪", "找不到人", "困难", "遇到困难", "想不开", "自杀",
		"被车撞", "撞伤", "撞了", "冒充", "假冒", "骗局", "被人打", "打伤", "动手",
		// Machines and falling loads hurt people in mines, quarries and
		// factories; members name the accident, not the word 工伤.
		"被机器", "机器夹", "夹伤", "夹断", "割伤", "绞伤", "轧伤", "砸到", "截肢", "赔钱", "不赔",
		// Officials taking a stall's goods, a house falling in.
		"城管", "没收", "收了东西", "收走", "房子塌", "塌了", "倒塌", "住不了",
		// Trouble at school is a problem to solve, not a schooling procedure.
		"被同学", "同学打", "勒索", "敲诈", "劝退", "退学", "不让读", "不让上", "不敢去上学", "不敢上学",
		"校园暴力", "体罚", "有麻烦", "惹麻烦", "遇到麻烦",
		// Dialect 莫得/冇得 normalise to 没有, so hunger reads 没有米, 没有吃的.
		"没有米", "没米了", "没有饭吃", "没有吃的", "没得吃", "断粮", "没有地方住",
		// A debt someone refuses to repay, or a debtor gone quiet: the phone
		// here is the debtor's, not a request for ours (the longer word
		// hides 电话 inside it).
		"不还", "借了我", "借钱不还", "欠钱不还", "跑路", "赖账", "跑回老家", "不接电话", "电话不接", "电话也不接",
		// Money the member cannot get at.
		"冻结", "取不出", "取不出来", "取不了钱", "提不出")
	add(bot.IntentHelp, 2,
		"怎么办", "帮忙", "帮助", "麻烦", "工资", "老板", "医院", "没钱", "打架", "害怕", "着急",
		"受不了", "房租", "房东", "押金", "合同", "劳动", "加班", "遇到", "欠", "骗", "伤",
		"被人", "派出所", "不知道怎么", "骂", "夹", "砸", "割", "机器", "摆摊", "漏雨", "也不管", "都不管",
		"怎么搞", "怎么整", "怎么弄")
	add(bot.IntentHelp, 1, "只给了", "银行卡")
	// Money settled (结清了) is about pay, faintly; the word exists so that
	// it hides the 清了 of "把我的资料清了" inside it.
	add(bot.IntentHelp, 0.5, "结清了", "还清了", "算清了", "付清了")
	add(bot.IntentHelp, 1, "问题", "急")

	add(bot.IntentContact, 3,
		"电话", "号码", "手机号", "联系方式", "联系电话", "联系卡", "电话卡", "名片", "怎么联系", "联系谁",
		"找谁", "负责人", "会长", "理事", "主任", "地址", "在哪里", "在哪儿", "在哪", "位置", "办公地点", "办公室",
		"几点上班", "上班时间", "办公时间", "几点下班", "怎么找", "找到你们", "联络", "微信号", "怎么走",
		// Where the association works; the longer word keeps 哪里办 (where
		// to apply) inside 在哪里办公 from reading as a procedure.
		"在哪里办公", "在哪办公", "哪里办公", "在哪里上班", "在哪上班", "哪里上班", "办公地址")
	add(bot.IntentContact, 2, "联系", "打给", "打电话", "通讯录", "找你们", "找人")
	add(bot.IntentContact, 1, "计生协", "协会")

	add(bot.IntentPolicy, 3,
		"政策", "规定", "补贴", "补助", "津贴", "扶助", "扶助金", "奖励", "福利", "待遇",
		"需要什么材料", "要什么材料", "什么材料", "带什么", "怎么办理", "如何办理", "在哪办", "去哪办", "哪里办",
		"办理", "怎么领", "能领", "可以领", "领多少", "报销", "免费", "享受", "怎么申请", "申请条件", "条件",
		"可以生", "能生", "生孩子", "生小孩", "怀孕", "户口", "上户口", "落户", "医保", "体检", "疫苗", "法律规定",
		"能报", "报多少", "报得了")
	// "有没有" opens any question ("有没有人要二手车"): on its own it is
	// no policy evidence, only colour.
	add(bot.IntentPolicy, 1, "有没有")
	add(bot.IntentPolicy, 2,
		"申请", "需要什么", "流程", "手续", "标准", "领取", "证明", "证件", "材料", "多少钱", "能不能",
		"可以吗", "是不是", "哪些", "国家", "生育", "计划生育", "计生", "好处")
	add(bot.IntentPolicy, 1, "孩子", "小孩", "娃")
	add(bot.IntentPolicy, 1, "想问", "问一下", "请问", "咨询", "了解")

	add(bot.IntentVisit, 3,
		"访视", "上门", "家访", "入户", "走访", "来家里", "到家里", "来我家", "到我家", "上我家", "来家",
		"预约", "约时间", "约个时间", "改时间", "改约", "换时间", "换个时间", "改到", "改天", "推迟", "延期", "提前来",
		"取消预约", "随访", "回访", "什么时候来", "哪天来", "几号来", "几点来", "来看看", "过来看")
	add(bot.IntentVisit, 2, "有空", "在家", "不在家")
	// A day or a time on its own ("明天下雨吗") is not a visit; it only
	// colours one that another word names.
	add(bot.IntentVisit, 1, "明天", "后天", "周末", "下周", "星期", "礼拜", "时间", "上午", "下午")

	add(bot.IntentStatus, 3,
		"进度", "进展", "怎么样了", "处理了吗", "处理得怎么样", "处理好了", "处理到", "有结果", "结果", "有消息",
		"有没有消息", "没消息", "没回复", "没回音", "没人回", "没人理", "没人管", "还没处理", "什么时候处理",
		"多久", "办好了", "办得怎么样", "到哪一步", "跟进", "催一下", "催催", "催", "上次", "上回", "之前反映",
		"我反映的", "反映的", "我的求助", "我的申请", "求助单", "工单", "受理", "几天了", "查询", "等了", "有回复",
		"搞定", "解决了没", "解决没", "解决了吗", "有人管", "有人处理", "答复",
		"怎样了", "如何了", "有人管没有", "有人管没", "管了没有", "问了没有", "问了没", "问了吗", "办到哪",
		"还在排队", "有结果没", "办了没", "弄好了没", "批了没", "批下来没", "通过了没",
		"到哪步", "哪一步", "有没有人管")
	add(bot.IntentStatus, 2, "到哪了", "排队", "审核")
	add(bot.IntentStatus, 2, "还没", "一直没", "反映", "提交", "查一下", "到底")

	add(bot.IntentGreeting, 1.5,
		"你好", "您好", "在吗", "在不在", "有人吗", "有没有人在", "有人在不", "谢谢", "感谢", "多谢", "谢了", "早上好", "上午好",
		"你们好", "麻烦了", "麻烦你了", "麻烦你们了", "麻烦您了", "麻烦你们", "麻烦您", "辛苦你了", "我叫", "中午好", "下午好", "晚上好", "晚安", "哈喽", "嗨", "你是谁", "你们是谁", "机器人", "是什么", "再见", "拜拜",
		"好的", "知道了", "收到", "辛苦了", "新年好", "过年好", "老乡", "大家好", "打扰", "hello", "hi", "ok", "thanks")

	// Saying who one is ("我是新来的") is an introduction: stronger than a
	// hello, so the topic words that follow it do not make it a question.
	add(bot.IntentGreeting, 3, "我是新来的", "我是刚来", "自我介绍", "认识一下", "初来乍到")
	add(bot.IntentGreeting, 2, "新来的", "刚来的", "刚关注", "刚加入")
	// Thanks for help given is thanks, not a request: the longer word hides
	// 帮忙/帮助 inside it.
	for _, t := range []string{"谢谢", "感谢", "多谢", "谢了"} {
		for _, who := range []string{"", "你", "你们", "您"} {
			add(bot.IntentGreeting, 3, t+who+"帮忙", t+who+"的帮助", t+who+"帮助")
		}
	}
	// Asking what the association is or does is getting acquainted.
	add(bot.IntentGreeting, 2, "是做什么的", "是干什么的", "是干嘛的", "做什么的", "干什么的", "干嘛的",
		"是什么单位", "是什么机构", "是哪个单位")

	// Off-topic small talk. Without these, a time word or a question word
	// in "明天天气怎么样" would pick some intent.
	add(bot.IntentUnknown, 3, "天气", "下雨", "下雪", "刮风", "气温", "天气预报", "彩票", "开奖", "双色球", "股票",
		"笑话", "星座", "算命",
		// Buying and selling between members is not the association's business.
		"二手", "便宜卖", "低价卖", "出售", "转让", "求购", "收购", "回收",
		"电视剧", "电影", "钓鱼", "打牌", "打麻将", "游戏")

	add(bot.IntentStop, 3,
		"不要再发", "别再发", "别发了", "不要发了", "不要给我发", "别给我发", "不想收", "不想再收", "不要推送", "别推送",
		"停止推送", "关闭推送", "取消推送", "取消订阅", "退订", "不再接收", "别再推", "不要再推", "别推了", "屏蔽",
		"太多消息", "消息太多", "骚扰", "关掉通知", "关闭通知", "不要通知", "取消通知", "停止发送", "不用再发",
		"别打扰", "不要打扰", "不想看", "不看了", "取消关注", "td", "stop", "unsubscribe")
	add(bot.IntentStop, 2, "推送", "群发", "广播", "烦", "别发", "不要发", "不要再", "别再", "发消息", "给我发")

	add(bot.IntentForget, 3,
		"删除我的", "删掉我的", "删了我的", "删除信息", "删除资料", "删除数据", "删除记录", "删我的", "清除", "清空", "注销",
		"忘记我", "忘掉我", "不要保存", "别保存", "不要留", "别留", "删除个人信息", "个人信息", "个人资料", "隐私",
		"撤回", "销毁", "抹掉", "删号", "不要记录", "别记录")
	add(bot.IntentForget, 3, "删除", "删掉", "删了", "帮我删")
	add(bot.IntentForget, 2, "删")
	add(bot.IntentForget, 2, "资料", "记录", "信息")
	// What the member registered is their data; on its own it only hints
	// (the erase combination in Understand does the rest).
	add(bot.IntentForget, 1, "我登记的", "登记的东西", "登记的信息")
	return out
}

// markers are words that carry no weight of their own but change how other
// words count when they occur together in a message.
type markers struct {
	// past refers to an earlier request, progress asks how it is going;
	// both together make a status question whatever the request was about
	// ("上次说的工伤的事现在有人管没有").
	past, progress []string
	// erase asks to delete something; with it, personal words name the
	// data to delete and stop asking for a contact card.
	erase, personal []string
	// ask is explicit policy evidence (a benefit, a procedure, a condition);
	// without it, FAQ text overlap alone cannot outweigh a trouble or a
	// named branch's address.
	ask []string
}

func markerWords() markers {
	return markers{
		past: []string{"之前", "以前", "上次", "上回", "前几天", "前两天", "前天", "昨天", "上个月", "上周", "上星期", "上礼拜",
			"那天", "我申请", "我提交", "提交的", "我报的", "报上去", "跟你们说", "跟你说", "和你们说", "给你们说", "我说的",
			"我反映", "反映的", "我的求助", "我的申请", "我的事", "那件事", "求助的", "申请的",
			// A help request is always an earlier one when its progress is
			// asked; 申请 is not, since "申请居住证要多久" is a policy question.
			"求助",
			// An earlier contact, or a promise the association made (a
			// boss's promise is no earlier request: "老板答应了给钱").
			"上个礼拜", "上个星期", "上个周", "找过你们", "找过你", "找过协会", "问过你们", "跟协会说", "反映过",
			"你们答应", "你答应", "协会答应", "计生协答应", "说要帮", "说好帮", "说帮我"},
		progress: []string{"怎么样了", "怎样了", "如何了", "有人管", "有人管没有", "有人管没", "有人处理", "管了没有",
			"问了没有", "问了没", "问了吗", "有消息", "有没有消息", "没消息", "办到哪", "到哪了", "到哪一步", "排队", "还在排队",
			"有结果", "有结果没", "结果", "有回复", "没回复", "进度", "进展", "处理了吗", "处理得怎么样", "办好了", "办得怎么样",
			"办了没", "解决了没", "解决没", "解决了吗", "批了没", "批下来没", "通过了没", "弄好了没", "还没好", "多久",
			"到哪步", "哪一步", "有没有人管", "有人管没"},
		erase: []string{"删", "删除", "删掉", "删了", "帮我删", "清除", "清空", "注销", "销毁", "抹掉",
			"清掉", "清了", "清理掉", "清干净", "删干净"},
		personal: []string{"电话", "号码", "手机号", "电话号码", "地址", "住址", "名字", "姓名", "身份证", "身份证号",
			"照片", "微信号", "联系方式", "资料", "信息", "我登记的", "登记的东西", "登记的信息"},
		ask: []string{"政策", "规定", "补贴", "补助", "津贴", "扶助", "奖励", "福利", "待遇", "好处", "材料", "办理",
			"怎么办理", "如何办理", "在哪办", "去哪办", "哪里办", "怎么领", "能领", "可以领", "领多少", "领取", "报销", "免费",
			"享受", "申请", "怎么申请", "申请条件", "条件", "流程", "手续", "标准", "证明", "证件", "需要什么", "带什么", "要带",
			"登记", "多少钱"},
	}
}

// urgentWords mark a help message as urgent: someone hurt, in danger, a
// sick child, no food or shelter.
func urgentWords() []string {
	return []string{
		"受伤", "摔伤", "砸伤", "压伤", "烫伤", "骨折", "流血", "出血", "昏迷", "晕倒", "住院", "急救", "救命", "救救",
		"被打", "打人", "打我", "家暴", "暴力", "砍", "威胁", "自杀", "想死", "不想活", "想不开",
		"发烧", "高烧", "生病", "病了", "病重", "抽搐", "难产", "车祸", "出事", "危险", "快不行", "性侵",
		"没饭吃", "吃不上饭", "饿肚子", "饿", "没吃的", "没有米", "没米了", "没有饭吃", "没有吃的", "没得吃", "断粮", "没有地方住", "没地方住", "露宿", "流落街头", "被赶出来", "无家可归",
		"走丢", "失踪", "报警", "急", "夹伤", "夹断", "截肢", "割伤", "绞伤", "轧伤", "房子塌", "倒塌",
	}
}

// keywordAliases pair what members call a benefit with the knowledge base
// keyword that names it, when the keyword is a shortening: the money is
// 奖扶金, the programme 奖扶. Vocabulary, applied only when the keyword is
// in the knowledge base.
func keywordAliases() [][2]string {
	return [][2]string{
		{"奖扶金", "奖扶"}, {"奖扶钱", "奖扶"}, {"奖励扶助金", "奖励扶助"},
		{"特扶金", "特扶"}, {"特扶钱", "特扶"}, {"特别扶助金", "特别扶助"},
		{"育儿补贴金", "育儿补贴"}, {"生育津贴费", "生育津贴"},
	}
}

// passiveHarm lists what can be done to a member. After 被 or 遭 with a few
// words between ("被人堵在厕所打了", "遭几个人抢了钱") it is a trouble to
// solve, however the victim and the place are described. 打 appears only in
// forms that mean a beating, never in 打工 or 打电话.
func passiveHarm() []string {
	return []string{"打了", "打伤", "打得", "打成", "打我", "打他", "打她", "打孩子", "打一顿", "打断", "打骂", "揍",
		"骗", "抢", "偷", "欺负", "砸", "撞", "咬", "堵", "拦住", "威胁", "敲诈", "勒索", "赶出", "扣押", "扣了", "锁在", "关起来"}
}

// englishWords are Latin words that are not pinyin; they must match a
// whole word, never a piece of a pinyin run.
func englishWords() map[string]bool {
	return map[string]bool{"hello": true, "hi": true, "ok": true, "thanks": true, "td": true, "stop": true, "unsubscribe": true}
}

// colloquialWords are dialect and colloquial words (south-western Mandarin
// as spoken in Guizhou and Guangxi, some Cantonese) paired with the
// standard word. This is vocabulary, not a character table: each pair is a
// word members use, and Normalize rewrites it so one standard spelling in
// the lexicon and the FAQs covers both. Words that also start ordinary
// words (没得 in 没得到) are left out.
func colloquialWords() [][2]string {
	return [][2]string{
		{"啥子", "什么"}, {"啥", "什么"}, {"么子", "什么"}, {"搞哪样", "干什么"}, {"做哪样", "干什么"},
		{"咋个", "怎么"}, {"咋", "怎么"}, {"啷个", "怎么"},
		{"哪点", "哪里"}, {"哪块", "哪里"},
		{"冇得", "没有"}, {"冇", "没"}, {"莫得", "没有"},
		{"细娃儿", "孩子"}, {"细娃", "孩子"}, {"娃儿", "孩子"}, {"娃娃", "孩子"},
		{"怀起", "怀孕"}, {"怀上", "怀孕"}, {"有喜", "怀孕"},
		{"晓得", "知道"}, {"好多钱", "多少钱"}, {"要得", "好的"},
		// After a verb of paying or getting, 好多 asks how much (是好多 =
		// 是多少); elsewhere it means "many" and stays.
		{"是好多", "是多少"}, {"报好多", "报多少"}, {"领好多", "领多少"}, {"补好多", "补多少"}, {"给好多", "给多少"},
		{"拿好多", "拿多少"}, {"交好多", "交多少"}, {"罚好多", "罚多少"}, {"发好多", "发多少"},
		{"堂客", "老婆"}, {"婆娘", "老婆"}, {"屋里头", "家里"}, {"屋头", "家里"},
		{"遭打", "被打"}, {"遭骗", "被骗"}, {"遭抢", "被抢"}, {"遭偷", "被偷"}, {"遭欺负", "被欺负"},
		{"莫发", "别发"}, {"莫再", "别再"}, {"莫要", "不要"},
	}
}
