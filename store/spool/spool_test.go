package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"nuanjia/bot"
)

// The spool is what the pipeline is given.
var _ bot.Spool = (*Spool)(nil)

// memberWords is in every test push's text, so a test can check that it
// never reaches the logs.
const memberWords = "老板欠我三个月工资 电话13800138000"

// push makes a distinct push with every kind of field set.
func push(tag string, i int) bot.Inbound {
	at := time.Date(2025, 3, 14, 9, 26, 53, 0, time.FixedZone("CST", 8*3600)).Add(time.Duration(i) * time.Second)
	in := bot.Inbound{
		OpenID:    fmt.Sprintf("oAbC-%s-%d", tag, i%7),
		AccountID: "gh_0123456789ab",
		Type:      bot.TypeText,
		Text:      fmt.Sprintf("%s #%d\n\"quoted\" \\ <xml>", memberWords, i),
		MsgID:     7_300_000_000_000_000_000 + int64(i),
		Lat:       31.230416 + float64(i)/1e6,
		Lng:       121.473701 - float64(i)/1e6,
		Located:   i%2 == 0,
		At:        at,
		DedupeKey: fmt.Sprintf("m:%s:%d", tag, i),
	}
	if i%4 == 1 {
		in.Type, in.Title, in.Extra = bot.TypeFile, "合同.pdf", map[string]string{"FileKey": fmt.Sprintf("fk-%d", i)}
	}
	if i%3 == 0 {
		in.Type, in.Event = bot.TypeEvent, bot.EventMassSendDone
		in.Job = bot.JobReport{Status: "send success", Total: 100 + i, Filtered: 90 + i, Sent: 89 + i, Errors: 1}
	}
	return in
}

// same compares two pushes; At is compared as an instant, since JSON keeps
// the instant and offset but not the monotonic reading or zone name.
func same(a, b bot.Inbound) bool {
	if !a.At.Equal(b.At) {
		return false
	}
	a.At, b.At = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

func open(t testing.TB, dir string, log *slog.Logger) *Spool {
	t.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s, err := Open(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func appendAll(t testing.TB, s *Spool, ins []bot.Inbound) {
	t.Helper()
	for _, in := range ins {
		if err := s.Append(in); err != nil {
			t.Fatal(err)
		}
	}
}

func pushes(tag string, n int) []bot.Inbound {
	ins := make([]bot.Inbound, n)
	for i := range ins {
		ins[i] = push(tag, i)
	}
	return ins
}

// replayAll replays with a keep that takes everything.
func replayAll(t *testing.T, s *Spool) []bot.Inbound {
	t.Helper()
	var got []bot.Inbound
	n, err := s.Replay(context.Background(), func(_ context.Context, in bot.Inbound) error {
		got = append(got, in)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(got) {
		t.Fatalf("Replay said %d replayed, keep took %d", n, len(got))
	}
	return got
}

func wantSame(t *testing.T, got, want []bot.Inbound) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d pushes, want %d", len(got), len(want))
	}
	for i := range want {
		if !same(got[i], want[i]) {
			t.Fatalf("push %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	want := pushes("rt", 50)
	appendAll(t, s, want)
	if got := s.Pending(); got != len(want) {
		t.Fatalf("Pending = %d, want %d", got, len(want))
	}
	for _, seg := range segments(t, dir) {
		fi, err := os.Stat(seg)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600: it holds members' words", seg, fi.Mode().Perm())
		}
	}
	wantSame(t, replayAll(t, s), want)
	if got := s.Pending(); got != 0 {
		t.Fatalf("Pending after replay = %d, want 0", got)
	}
	if segs := segments(t, dir); len(segs) != 0 {
		t.Fatalf("segments left after a full replay: %v", segs)
	}
	if got := replayAll(t, s); len(got) != 0 {
		t.Fatalf("second replay gave %d pushes again", len(got))
	}
}

func TestOpenCreatesPrivateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "spool")
	s := open(t, dir, nil)
	if s.Dir() != dir {
		t.Fatalf("Dir = %q, want %q", s.Dir(), dir)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v, want 0700", fi.Mode().Perm())
	}
}

func TestManySegmentsReplayOldestFirst(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	s.maxSegment = 1 // every flush starts a new segment
	want := pushes("seg", 12)
	appendAll(t, s, want)
	if n := len(segments(t, dir)); n != len(want) {
		t.Fatalf("%d segments, want one per push (%d)", n, len(want))
	}
	wantSame(t, replayAll(t, s), want)
	if segs := segments(t, dir); len(segs) != 0 {
		t.Fatalf("segments left: %v", segs)
	}
}

func TestAppendsDuringReplayGoToTheNextReplay(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	first := pushes("first", 5)
	later := pushes("later", 5)
	appendAll(t, s, first)

	var got []bot.Inbound
	i := 0
	_, err := s.Replay(context.Background(), func(_ context.Context, in bot.Inbound) error {
		got = append(got, in)
		// PostgreSQL is back but the webhook still spools a push now and
		// then while the replay runs.
		if err := s.Append(later[i]); err != nil {
			return err
		}
		i++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantSame(t, got, first)
	if p := s.Pending(); p != len(later) {
		t.Fatalf("Pending = %d, want the %d appended during replay", p, len(later))
	}
	wantSame(t, replayAll(t, s), later)
}

// TestReplayWhileAppending runs appends and replays at the same time, as in
// the server when PostgreSQL flaps: each push must come out exactly once,
// and each member's pushes (one writer here) in the order they were sent.
func TestReplayWhileAppending(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	const writers, each = 8, 100
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := s.Append(push(fmt.Sprint("w", w), i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var got []bot.Inbound
	keep := func(_ context.Context, in bot.Inbound) error {
		got = append(got, in)
		return nil
	}
	stop := make(chan struct{})
	replayed := make(chan struct{})
	go func() {
		defer close(replayed)
		for {
			if _, err := s.Replay(context.Background(), keep); err != nil {
				t.Error(err)
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-replayed
	if _, err := s.Replay(context.Background(), keep); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnceInOrder(t, got, writers, each)
	if p := s.Pending(); p != 0 {
		t.Fatalf("Pending = %d, want 0", p)
	}
}

func checkExactlyOnceInOrder(t *testing.T, got []bot.Inbound, writers, each int) {
	t.Helper()
	seen := map[string]bool{}
	next := map[string]int{} // writer tag → index of the next push expected from it
	for _, in := range got {
		if seen[in.DedupeKey] {
			t.Fatalf("push %s delivered twice", in.DedupeKey)
		}
		seen[in.DedupeKey] = true
		var tag string
		var i int
		if _, err := fmt.Sscanf(strings.Replace(in.DedupeKey, ":", " ", -1), "m %s %d", &tag, &i); err != nil {
			t.Fatalf("bad key %q: %v", in.DedupeKey, err)
		}
		if i != next[tag] {
			t.Fatalf("writer %s: got push %d, want %d (out of order)", tag, i, next[tag])
		}
		next[tag]++
		if !same(in, push(tag, i)) {
			t.Fatalf("push %s came back changed", in.DedupeKey)
		}
	}
	if len(seen) != writers*each {
		t.Fatalf("%d distinct pushes delivered, want %d", len(seen), writers*each)
	}
}

// TestKeepFailureResumesWhereItStopped: keep fails on the 7th push, which
// lies in the second of two segments. The next replay delivers the 7th
// onwards, and none of the six taken before: this spool rewrites what was
// not taken, so it re-delivers nothing short of a crash.
func TestKeepFailureResumesWhereItStopped(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	want := pushes("kf", 10)
	appendAll(t, s, want[:5])
	// A replay while PostgreSQL is still away: nothing taken, but the first
	// segment is closed, and the next appends make a second one.
	down := errors.New("postgres: connection refused")
	n, err := s.Replay(context.Background(), func(context.Context, bot.Inbound) error { return down })
	if !errors.Is(err, down) || n != 0 {
		t.Fatalf("Replay = %d, %v; want 0, %v", n, err, down)
	}
	appendAll(t, s, want[5:])
	if segs := segments(t, dir); len(segs) != 2 {
		t.Fatalf("%d segments, want 2", len(segs))
	}

	const k = 7
	var taken []bot.Inbound
	n, err = s.Replay(context.Background(), func(_ context.Context, in bot.Inbound) error {
		if len(taken) == k-1 {
			return down
		}
		taken = append(taken, in)
		return nil
	})
	if !errors.Is(err, down) {
		t.Fatalf("Replay error = %v, want one wrapping %v", err, down)
	}
	if n != k-1 {
		t.Fatalf("Replay = %d, want %d", n, k-1)
	}
	wantSame(t, taken, want[:k-1])
	if p := s.Pending(); p != len(want)-(k-1) {
		t.Fatalf("Pending = %d, want %d", p, len(want)-(k-1))
	}
	if segs := segments(t, dir); len(segs) != 1 {
		t.Fatalf("segments %v, want only the partly replayed one", segs)
	}
	wantSame(t, replayAll(t, s), want[k-1:])
}

func TestCancelStopsCleanly(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	want := pushes("cx", 6)
	appendAll(t, s, want)
	ctx, cancel := context.WithCancel(context.Background())
	var taken []bot.Inbound
	n, err := s.Replay(ctx, func(_ context.Context, in bot.Inbound) error {
		taken = append(taken, in)
		if len(taken) == 2 {
			cancel() // the server shuts down
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n != 2 {
		t.Fatalf("Replay = %d, %v; want 2, context.Canceled", n, err)
	}
	wantSame(t, taken, want[:2])
	wantSame(t, replayAll(t, s), want[2:])
}

func TestReopenFindsWhatWasSpooled(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	want := pushes("re", 20)
	appendAll(t, s, want[:10])
	// A replay that takes nothing, so there is a closed segment and an open one.
	s.Replay(context.Background(), func(context.Context, bot.Inbound) error { return errors.New("down") })
	appendAll(t, s, want[10:])
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(push("re", 99)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}

	s2 := open(t, dir, nil)
	if p := s2.Pending(); p != len(want) {
		t.Fatalf("Pending after reopen = %d, want %d", p, len(want))
	}
	// New appends go after the old ones.
	extra := push("re", 20)
	if err := s2.Append(extra); err != nil {
		t.Fatal(err)
	}
	wantSame(t, replayAll(t, s2), append(want, extra))
}

func TestSecondOpenOfTheSameDirFails(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, nil)
	s2, err := Open(dir, nil)
	if err == nil {
		s2.Close()
		t.Fatal("a second Open of the same directory succeeded")
	}
	if !strings.Contains(err.Error(), dir) {
		t.Fatalf("error %q does not name %s", err, dir)
	}
}

// crash writes half of a push's line to the end of the spool's only
// segment, as a crash mid-write leaves it.
func crash(t *testing.T, dir string) {
	t.Helper()
	segs := segments(t, dir)
	if len(segs) != 1 {
		t.Fatalf("segments %v, want 1", segs)
	}
	line, err := encode(push("torn", 0))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(segs[0], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(line[:len(line)/2]); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestTornLastLineIsSkipped(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	want := pushes("ok", 3)
	appendAll(t, s, want)
	s.Close()
	crash(t, dir)

	var logs bytes.Buffer
	s2 := open(t, dir, slog.New(slog.NewTextHandler(&logs, nil)))
	if p := s2.Pending(); p != len(want) {
		t.Fatalf("Pending = %d, want %d (a torn line is no push)", p, len(want))
	}
	wantSame(t, replayAll(t, s2), want)
	if !strings.Contains(logs.String(), "lines=1") {
		t.Fatalf("the torn line was not logged with its count:\n%s", logs.String())
	}
	noMemberWords(t, logs.String())
}

// TestCorruptLineInTheMiddle: a line that still parses but whose bytes
// changed (the CRC catches it) is skipped, the ones around it delivered,
// and it is logged once, not at every replay.
func TestCorruptLineInTheMiddle(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	s := open(t, dir, slog.New(slog.NewTextHandler(&logs, nil)))
	want := pushes("mid", 5)
	appendAll(t, s, want)
	seg := segments(t, dir)[0]
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	lines[2] = bytes.Replace(lines[2], []byte("#2"), []byte("#9"), 1)
	if err := os.WriteFile(seg, bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}

	down := errors.New("down")
	var got []bot.Inbound
	keep := func(_ context.Context, in bot.Inbound) error {
		if len(got) == 1 {
			return down
		}
		got = append(got, in)
		return nil
	}
	if _, err := s.Replay(context.Background(), keep); !errors.Is(err, down) {
		t.Fatal(err)
	}
	got = append(got, replayAll(t, s)...)
	wantSame(t, got, []bot.Inbound{want[0], want[1], want[3], want[4]})
	if c := strings.Count(logs.String(), "unreadable"); c != 1 {
		t.Fatalf("corrupt line logged %d times, want once:\n%s", c, logs.String())
	}
	noMemberWords(t, logs.String())
}

func noMemberWords(t *testing.T, logs string) {
	t.Helper()
	for _, w := range []string{"工资", "13800138000", "31.23", "121.47", "quoted"} {
		if strings.Contains(logs, w) {
			t.Fatalf("logs hold a member's words (%q):\n%s", w, logs)
		}
	}
}

func TestConcurrentAppendsComeBackExactlyOnce(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	const writers, each = 64, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := s.Append(push(fmt.Sprint("c", w), i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if p := s.Pending(); p != writers*each {
		t.Fatalf("Pending = %d, want %d", p, writers*each)
	}
	s.mu.Lock()
	syncs := s.syncs
	s.mu.Unlock()
	t.Logf("%d appends took %d fsyncs", writers*each, syncs)
	checkExactlyOnceInOrder(t, replayAll(t, s), writers, each)
}

func TestOpenUnusablePath(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{file, filepath.Join(file, "spool")} {
		s, err := Open(dir, nil)
		if err == nil {
			s.Close()
			t.Fatalf("Open(%s) succeeded", dir)
		}
		msg := err.Error()
		t.Log(msg)
		if !strings.Contains(msg, dir) || !strings.Contains(msg, "SPOOL_DIR") || strings.Contains(msg, "\n") {
			t.Fatalf("Open(%s) error %q: want one line naming the directory and SPOOL_DIR", dir, msg)
		}
	}
	if _, err := Open("", nil); err == nil || !strings.Contains(err.Error(), "SPOOL_DIR") {
		t.Fatalf("Open(\"\") = %v, want an error naming SPOOL_DIR", err)
	}
}

func TestLeftoverRewriteIsRemovedAtOpen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	want := pushes("tmp", 3)
	appendAll(t, s, want)
	s.Close()
	// A crash between writing the rewrite and renaming it: the segment is
	// still whole, the temporary file must not be read.
	seg := segments(t, dir)[0]
	if err := os.WriteFile(seg+tmpExt, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, dir, nil)
	if _, err := os.Stat(seg + tmpExt); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("leftover %s not removed: %v", seg+tmpExt, err)
	}
	wantSame(t, replayAll(t, s2), want)
}

// BenchmarkAppendParallel measures Append with many webhook requests
// spooling at once; pushes/fsync above 1 is group commit at work.
// SPOOL_BENCH_DIR picks the filesystem (the default temp dir may be tmpfs,
// where fsync costs nothing).
func BenchmarkAppendParallel(b *testing.B) {
	s := benchSpool(b)
	b.SetParallelism(32) // goroutines per CPU: requests mostly wait on the disk
	in := push("bench", 1)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Append(in); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportSyncs(b, s)
}

// BenchmarkAppendSerial is the one-push-one-fsync baseline.
func BenchmarkAppendSerial(b *testing.B) {
	s := benchSpool(b)
	in := push("bench", 1)
	b.ResetTimer()
	for b.Loop() {
		if err := s.Append(in); err != nil {
			b.Fatal(err)
		}
	}
	reportSyncs(b, s)
}

func benchSpool(b *testing.B) *Spool {
	dir := b.TempDir()
	if d := os.Getenv("SPOOL_BENCH_DIR"); d != "" {
		var err error
		if dir, err = os.MkdirTemp(d, "bench-"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
	}
	return open(b, dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func reportSyncs(b *testing.B, s *Spool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.syncs > 0 {
		b.ReportMetric(float64(s.pending)/float64(s.syncs), "pushes/fsync")
	}
}

// TestFailedWriteDoesNotSwallowLaterPushes: after a write fails (a full
// disk, an I/O error) the failed Append reports it, so WeChat retries, and
// later Appends go to a fresh segment, not after a possibly torn line.
func TestFailedWriteDoesNotSwallowLaterPushes(t *testing.T) {
	s := open(t, t.TempDir(), nil)
	want := pushes("fw", 3)
	appendAll(t, s, want[:1])
	s.mu.Lock()
	s.cur.Close() // the next write to it fails
	s.mu.Unlock()
	if err := s.Append(want[1]); err == nil {
		t.Fatal("Append to a broken segment succeeded")
	}
	appendAll(t, s, want[2:])
	if p := s.Pending(); p != 2 {
		t.Fatalf("Pending = %d, want 2", p)
	}
	wantSame(t, replayAll(t, s), []bot.Inbound{want[0], want[2]})
}
