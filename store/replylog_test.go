package store

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"nuanjia/bot"
)

func TestReplyLogWritesEveryReply(t *testing.T) {
	s := newStore(t)
	const members = 300
	for i := range members {
		record(t, s, textPush(fmt.Sprintf("o-%d", i), int64(5000+i), "你好", t0), "", "")
	}
	l := s.NewReplyLog(slog.New(slog.NewTextHandler(io.Discard, nil)))
	var wg sync.WaitGroup
	for i := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.LogReply(bot.SentReply{
				OpenID: fmt.Sprintf("o-%d", i), Text: "你好！我是暖家小助手。", Channel: bot.ChannelPassive,
				Intent: bot.IntentGreeting, At: t0.Add(time.Second),
			})
		}()
	}
	wg.Wait()
	l.Close()
	if n := countRows(t, s, "messages", "direction = 'out' AND intent = 'greeting'"); n != members {
		t.Errorf("reply rows = %d, want %d", n, members)
	}
	ex, _, err := s.ExportMember(context.Background(), "o-7")
	if err != nil || len(ex.Messages) != 2 || ex.Messages[1].Text != "你好！我是暖家小助手。" {
		t.Errorf("export of one member = %+v, %v; want the greeting and its reply", ex.Messages, err)
	}
}
