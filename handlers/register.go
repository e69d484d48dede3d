package handlers

import (
	"log/slog"
	"time"

	"nuanjia/bot"
)

// Deps is what the handlers need from the rest of the bot.
type Deps struct {
	Knowledge Knowledge
	Choices   bot.ChoiceMemory
	Prefs     BroadcastPrefs
	// Places reads place names in directors' commands (转 123 者保).
	Places bot.Understander
	Cases  CaseSettings
	Visits VisitSettings
	Zone   *time.Location // times shown to people (nil: UTC+8)
	Log    *slog.Logger
}

// Desk is the case desk the handlers and the clock share.
func (d Deps) Desk() Desk {
	return Desk{Knowledge: d.Knowledge, Choices: d.Choices, Settings: d.Cases, Zone: d.Zone, Log: d.Log}
}

// Register makes one handler serve each intent, and puts the directors'
// commands and members' case follow-ups in front of them: the one place
// that says which code answers what.
func Register(r *bot.Router, d Deps) {
	desk := d.Desk()
	// Visit commands go before the case commands: 改 N 明天 is a visit's.
	visits := VisitDesk{Desk: desk, Settings: d.Visits}
	r.Intercept(visits)
	r.Intercept(Directors{Desk: desk, Places: d.Places})
	// A member's own words about consent and their profile go before
	// anything that would add them to an open case.
	r.Intercept(Consent{Desk: desk})
	// 恢复推送 reads as the stop intent's words; it is answered here.
	r.Intercept(Resume{Prefs: d.Prefs})
	profile := NewProfile(desk, d.Places)
	r.Intercept(profile)
	// The erase confirmation goes before the case follow-up: "确认删除"
	// must not be added to an open case.
	r.Intercept(Forget{Desk: desk})
	// A visit's date goes before the case follow-up: "明天下午3点" must not
	// be added to an open case.
	r.Intercept(Visit{Knowledge: d.Knowledge, Visits: visits})
	r.Intercept(FollowUp{Desk: desk})
	r.Register(bot.IntentHelp, Help{Desk: desk})
	r.Register(bot.IntentContact, Contact{Knowledge: d.Knowledge, Choices: d.Choices})
	r.Register(bot.IntentPolicy, Policy{Knowledge: d.Knowledge, Choices: d.Choices, Desk: desk})
	r.Register(bot.IntentVisit, Visit{Knowledge: d.Knowledge, Visits: visits})
	r.Register(bot.IntentStatus, Status{Desk: desk})
	r.Register(bot.IntentGreeting, Greeting{})
	r.Register(bot.IntentStop, Stop{Prefs: d.Prefs})
	r.Register(bot.IntentForget, Forget{Desk: desk})
	r.Register(bot.IntentUnsubscribe, Unsubscribe{Desk: desk})
	r.Register(bot.IntentProfile, profile)
	r.Register(bot.IntentUnknown, Unknown{Desk: desk})
	r.Finish(Onboarding{Desk: desk})
}
