package handlers_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"nuanjia/bot"
	"nuanjia/bot/nlu"
	"nuanjia/internal/pgtest"
	"nuanjia/store"
)

// The OpenCC tables take a while to load and are only read afterwards, so

// branch is a demo branch the test relies on.
func branch(t *testing.T, ix *nlu.Index, id string) bot.Branch {
	t.Helper()
	b, ok := ix.Branch(id)
	if !ok {
		t.Fatalf("kb/demo.yaml has no branch %q", id)
	}
	return b
}

// textRequest is what the router hands a handler for a text message.
func textRequest(ix *nlu.Index, openID, text string, m bot.Member) *bot.Request {
	m.OpenID = openID
	return &bot.Request{
		Msg:    bot.Inbound{OpenID: openID, Type: bot.TypeText, Text: text},
		Member: m,
		U:      ix.Understand(text),
	}
}

// understandFirst returns the first of texts the index understands the way
// a test needs (want), so a retuned classifier moves the test to another
// phrasing instead of breaking it; it fails when none fits.
func understandFirst(t *testing.T, ix *nlu.Index, want func(bot.Understanding) bool, texts ...string) bot.Understanding {
	t.Helper()
	for _, text := range texts {
		if u := ix.Understand(text); want(u) {
			return u
		}
	}
	t.Fatalf("none of %q is understood as this test needs", texts)
	return bot.Understanding{}
}

// handle runs h and fails the test on an error: members never see one.
func handle(t *testing.T, h bot.Handler, req *bot.Request) string {
	t.Helper()
	reply, err := h.Handle(context.Background(), req)
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	return reply.Text
}

// maxReplyRunes is about what a phone screen shows without scrolling far.
const maxReplyRunes = 300

// traditional are characters that would show the reply was not written in
// the Simplified Chinese members read (協 for 协, 聯 for 联, …).
const traditional = "協聯電話會員資訊幫們請問這個來區與號護證書時間"

// checkReadable fails when a reply is empty, too long for a phone screen,
// or contains traditional characters.
func checkReadable(t *testing.T, reply string) {
	t.Helper()
	if strings.TrimSpace(reply) == "" {
		t.Fatal("empty reply")
	}
	if n := utf8.RuneCountInString(reply); n > maxReplyRunes {
		t.Errorf("reply is %d runes, more than %d:\n%s", n, maxReplyRunes, reply)
	}
	if i := strings.IndexAny(reply, traditional); i >= 0 {
		r, _ := utf8.DecodeRuneInString(reply[i:])
		t.Errorf("reply contains the traditional character %c:\n%s", r, reply)
	}
}

// phonePattern matches the numbers in the knowledge base, such as 0776-0000101.
var phonePattern = regexp.MustCompile(`\d{3,4}-\d{7,8}`)

// checkNamesPhone fails unless the reply gives a number to call.
func checkNamesPhone(t *testing.T, reply string) {
	t.Helper()
	if !phonePattern.MatchString(reply) {
		t.Errorf("reply names no phone number:\n%s", reply)
	}
}

// newStore is PostgreSQL in a schema of this test's own, migrated.
func newStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}
