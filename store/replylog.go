package store

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"nuanjia/bot"
)

// ReplyLog records the bot's replies off the request path: the member's
// message is stored before anything is answered, while the record of the
// answer can follow a moment later. Under load, replies waiting together are
// written in one statement.
type ReplyLog struct {
	st      *Store
	log     *slog.Logger
	queue   chan bot.SentReply
	stopped chan struct{}
	once    sync.Once
	pending sync.WaitGroup // replies queued and not yet written
}

// replyBatch is the most replies written in one statement.
const replyBatch = 256

// NewReplyLog starts the writer; Close flushes and stops it.
func (s *Store) NewReplyLog(log *slog.Logger) *ReplyLog {
	l := &ReplyLog{st: s, log: log, queue: make(chan bot.SentReply, 4*replyBatch), stopped: make(chan struct{})}
	go l.run()
	return l
}

// LogReply queues a reply for the record. It blocks only when the writer is
// far behind, which slows the webhook down instead of dropping records.
func (l *ReplyLog) LogReply(r bot.SentReply) {
	l.pending.Add(1)
	l.queue <- r
}

// Flush waits until every reply logged so far has been written (or given
// up on). Tests and tools use it to read what was just answered.
func (l *ReplyLog) Flush() { l.pending.Wait() }

// Close writes what is queued and stops the writer.
func (l *ReplyLog) Close() {
	l.once.Do(func() { close(l.queue) })
	<-l.stopped
}

func (l *ReplyLog) run() {
	defer close(l.stopped)
	batch := make([]bot.SentReply, 0, replyBatch)
	for r := range l.queue {
		batch = append(batch[:0], r)
		drainInto(l.queue, replyBatch-1, func(r bot.SentReply) { batch = append(batch, r) })
		l.write(batch)
		l.pending.Add(-len(batch))
	}
}

// write stores a batch, trying again once after a pause: a reply record is
// worth a second try, but a PostgreSQL outage must not stall the queue.
func (l *ReplyLog) write(batch []bot.SentReply) {
	for attempt := 0; attempt < 2; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := l.st.RecordReplies(ctx, batch)
		cancel()
		if err == nil {
			return
		}
		if attempt == 0 {
			time.Sleep(time.Second)
			continue
		}
		l.log.Error("reply records lost", "count", len(batch), "error", err)
	}
}

// drainInto hands add what is waiting in queue, up to max items, without
// blocking: the batch is whatever arrived while the last write was going on.
func drainInto[T any](queue <-chan T, max int, add func(T)) {
	for range max {
		select {
		case v, ok := <-queue:
			if !ok {
				return
			}
			add(v)
		default:
			return
		}
	}
}
