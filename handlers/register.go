package handlers

import "nuanjia/bot"

// Deps is what the handlers need from the rest of the bot.
type Deps struct {
	Knowledge Knowledge
	Choices   bot.ChoiceMemory
	Prefs     BroadcastPrefs
}

// Register makes one handler serve each intent: the one place that says
// which code answers what.
func Register(r *bot.Router, d Deps) {
	r.Register(bot.IntentHelp, Help{Knowledge: d.Knowledge})
	r.Register(bot.IntentContact, Contact{Knowledge: d.Knowledge})
	r.Register(bot.IntentPolicy, Policy{Knowledge: d.Knowledge, Choices: d.Choices})
	r.Register(bot.IntentVisit, Visit{Knowledge: d.Knowledge})
	r.Register(bot.IntentStatus, Status{Knowledge: d.Knowledge})
	r.Register(bot.IntentGreeting, Greeting{})
	r.Register(bot.IntentStop, Stop{Prefs: d.Prefs})
	r.Register(bot.IntentForget, Forget{Knowledge: d.Knowledge})
	r.Register(bot.IntentUnknown, Unknown{})
}
