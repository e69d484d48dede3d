// Package spool keeps pushes on local disk while PostgreSQL cannot take
// them. The webhook must answer WeChat within 5 s; when PostgreSQL is away
// a push is appended here, fsynced, and only then is WeChat answered, so a
// push WeChat no longer retries is always somewhere durable. A replayer in
// the server later moves the spool into PostgreSQL with Replay.
//
// On disk the spool is a directory of segment files, <seq>.jsonl with a
// zero-padded, increasing sequence number, so name order is write order.
// Each line of a segment is one push:
//
//	{"v":1,"crc":<CRC-32 (IEEE) of the bytes of "in">,"in":<bot.Inbound as JSON>}
//
// Appends go to the newest segment; Replay closes it first, so appends
// carry on into a new one while the closed ones are replayed, oldest first,
// and deleted once every push in them was taken.
//
// The spool holds members' words. Nothing here logs or returns the content
// of a push: logs carry segment names, counts and, in errors, dedupe keys.
package spool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"nuanjia/bot"
)

// formatVersion is written on every line, so a later format can be told
// from this one by a binary that knows both.
const formatVersion = 1

const (
	segmentExt = ".jsonl"
	// tmpExt marks a segment being rewritten; such a file is never read,
	// and one left by a crash is removed at Open (the segment it was to
	// replace is still whole, since the rename did not happen).
	tmpExt = ".tmp"
	// lockName is the file whose lock keeps two processes (an old and a
	// new server during a deploy, say) from writing and replaying the same
	// spool at once.
	lockName = ".lock"
	// seqDigits pads sequence numbers so that names sort as numbers do.
	seqDigits = 16
	// defaultMaxSegment bounds a segment, so Replay can read one whole
	// into memory and a crash mid-replay re-feeds at most that much.
	defaultMaxSegment = 8 << 20
)

// ErrClosed is returned by Append and Replay after Close.
var ErrClosed = errors.New("spool: closed")

// Spool is a local append-only disk spool of pushes. It is safe for
// concurrent use. It satisfies bot.Spool.
type Spool struct {
	dir  string
	log  *slog.Logger
	lock io.Closer // the directory lock, held until Close

	// maxSegment is the size past which a segment is closed and the next
	// append starts a new one. A field, not a constant, so tests can make
	// many segments cheaply.
	maxSegment int64

	// replaying serialises Replay calls and lets Close wait for one in
	// progress, so the directory lock is not released while this process
	// still feeds segments another process could then feed too.
	replaying sync.Mutex

	mu   sync.Mutex
	cond *sync.Cond // signalled, with mu, whenever a flush ends
	// next gathers the lines of Appends waiting for the next write+fsync:
	// group commit. Whoever finds no flush under way takes the whole batch,
	// writes and fsyncs it, and wakes everyone in it.
	next *batch
	// flushing is true while a flush is writing outside mu. Only the
	// flusher touches cur, curName, curSize and seq then; otherwise they
	// are touched under mu, and only when flushing is false.
	flushing bool
	closed   bool
	cur      *os.File // the segment appends go to; nil until the next flush opens one
	curName  string
	curSize  int64
	seq      uint64 // sequence number of the newest segment made so far

	// counts holds the number of pushes believed to be in each segment, and
	// pending their sum. Replay corrects a segment's count when it reads it
	// (a crash can leave lines that cannot be read).
	counts  map[string]int
	pending int
	syncs   int // flushes done, for the benchmark's pushes-per-fsync figure
}

// batch is the set of lines one flush writes.
type batch struct {
	buf  []byte
	n    int // lines in buf
	done bool
	err  error
}

// Open opens the spool in dir, creating dir (mode 0700) if missing. It
// checks that dir can take a durable write, so a misconfigured SPOOL_DIR
// fails at start and not during an outage, and counts the pushes already
// spooled (left by a crash or a restart) so Pending is right from the start.
func Open(dir string, log *slog.Logger) (*Spool, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if dir == "" {
		return nil, errors.New("spool: no directory given (SPOOL_DIR is empty)")
	}
	unusable := func(err error) error {
		return fmt.Errorf("spool: directory %s (SPOOL_DIR) is not usable: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, unusable(err)
	}
	// The lock first: a process holding it removes stray temporary files,
	// the probe's among them.
	lock, err := lockDir(filepath.Join(dir, lockName))
	if err != nil {
		return nil, unusable(err)
	}
	if err := probe(dir); err != nil {
		lock.Close()
		return nil, unusable(err)
	}
	s := &Spool{
		dir:        dir,
		log:        log,
		lock:       lock,
		maxSegment: defaultMaxSegment,
		counts:     map[string]int{},
	}
	s.cond = sync.NewCond(&s.mu)
	if err := s.scan(); err != nil {
		lock.Close()
		return nil, unusable(err)
	}
	if s.pending > 0 {
		s.log.Info("spool holds pushes from before this start", "dir", dir, "pushes", s.pending, "segments", len(s.counts))
	}
	return s, nil
}

// probe creates, fsyncs and removes a file in dir: the three things the
// spool does there.
func probe(dir string) error {
	f, err := os.CreateTemp(dir, ".probe-*"+tmpExt)
	if err != nil {
		return err
	}
	_, werr := f.Write([]byte("probe\n"))
	serr := f.Sync()
	cerr := f.Close()
	rerr := os.Remove(f.Name())
	return errors.Join(werr, serr, cerr, rerr)
}

// scan removes what a crash left mid-rewrite, finds the newest sequence
// number, and counts the pushes in each segment. It counts complete lines
// without decoding them, so a start after a long outage stays quick; Replay
// corrects the count of a segment holding unreadable lines.
func (s *Spool) scan() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, tmpExt) {
			if err := os.Remove(filepath.Join(s.dir, name)); err != nil {
				return err
			}
			continue
		}
		seq, ok := segmentSeq(name)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		n, err := countLines(filepath.Join(s.dir, name))
		if err != nil {
			return err
		}
		s.counts[name] = n
		s.pending += n
		s.seq = max(s.seq, seq)
	}
	return nil
}

func countLines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	buf := make([]byte, 64<<10)
	for {
		k, err := f.Read(buf)
		n += bytes.Count(buf[:k], []byte{'\n'})
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func segmentName(seq uint64) string {
	s := strconv.FormatUint(seq, 10)
	return strings.Repeat("0", max(0, seqDigits-len(s))) + s + segmentExt
}

// segmentSeq parses a segment's name; other files in the directory are
// not the spool's and are left alone.
func segmentSeq(name string) (uint64, bool) {
	base, ok := strings.CutSuffix(name, segmentExt)
	if !ok || len(base) != seqDigits {
		return 0, false
	}
	seq, err := strconv.ParseUint(base, 10, 64)
	return seq, err == nil
}

// Dir is the spool's directory.
func (s *Spool) Dir() string { return s.dir }

// Pending is the number of pushes spooled and not yet replayed.
func (s *Spool) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// Ping reports whether the spool can take pushes: it is open and its
// directory still takes a file and an fsync (the disk may have filled or
// gone read-only since Open). /readyz calls it.
func (s *Spool) Ping(ctx context.Context) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return probe(s.dir)
}

// Append writes a push to the spool and returns once it is fsynced.
// Concurrent Appends share one write and one fsync.
func (s *Spool) Append(in bot.Inbound) error {
	line, err := encode(in)
	if err != nil {
		return fmt.Errorf("spool: encode push %s: %w", in.DedupeKey, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	b := s.next
	if b == nil {
		b = &batch{}
		s.next = b
	}
	b.buf = append(b.buf, line...)
	b.n++
	// Either a flush is under way, and b goes in the one after it, or
	// there is none and this Append flushes b for everyone in it.
	for !b.done {
		if s.flushing {
			s.cond.Wait()
			continue
		}
		s.flush()
	}
	if b.err != nil {
		return fmt.Errorf("spool: write push %s to %s: %w", in.DedupeKey, s.dir, b.err)
	}
	return nil
}

// flush writes and fsyncs the waiting batch. It is called with mu held,
// no flush under way and s.next set, and releases mu while it writes.
func (s *Spool) flush() {
	b := s.next
	s.next = nil
	s.flushing = true
	s.mu.Unlock()
	name, err := s.write(b.buf)
	s.mu.Lock()
	s.flushing = false
	s.syncs++
	b.done, b.err = true, err
	if err == nil {
		s.counts[name] += b.n
		s.pending += b.n
	}
	s.cond.Broadcast()
}

// write appends buf to the current segment, opening one if needed, and
// fsyncs it. Only the flusher calls it.
func (s *Spool) write(buf []byte) (string, error) {
	if s.cur != nil && s.curSize >= s.maxSegment {
		// Its bytes were fsynced by the flushes that wrote them.
		s.closeCurrent()
	}
	if s.cur == nil {
		if err := s.openSegment(); err != nil {
			return "", err
		}
	}
	_, err := s.cur.Write(buf)
	if err == nil {
		err = s.cur.Sync()
	}
	if err != nil {
		// After a failed write or fsync what reached the disk is unknown,
		// and a torn line would swallow the next push written after it:
		// leave this segment as it is (Replay skips a torn tail) and start
		// a new one. The Appends in this batch fail, so WeChat retries them.
		if s.curSize == 0 {
			os.Remove(filepath.Join(s.dir, s.curName))
		}
		s.closeCurrent()
		return "", err
	}
	s.curSize += int64(len(buf))
	return s.curName, nil
}

func (s *Spool) openSegment() error {
	s.seq++
	name := segmentName(s.seq)
	path := filepath.Join(s.dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	// The new name must survive a crash as surely as the bytes in it.
	if err := syncDir(s.dir); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	s.cur, s.curName, s.curSize = f, name, 0
	return nil
}

func (s *Spool) closeCurrent() {
	if s.cur == nil {
		return
	}
	if err := s.cur.Close(); err != nil {
		s.log.Warn("spool segment did not close cleanly", "segment", s.curName, "error", err)
	}
	s.cur, s.curName, s.curSize = nil, "", 0
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}

// Replay hands every spooled push to keep, oldest first, and forgets each
// one keep took. It stops at the first error keep returns, or when ctx is
// done, and returns how many pushes keep took. The pushes not yet taken
// stay for the next Replay, which does not hand over again those taken
// before; only a crash during Replay can make it do so, for the segment
// being replayed (keep must be idempotent). Appends made meanwhile go to
// the next Replay.
func (s *Spool) Replay(ctx context.Context, keep func(context.Context, bot.Inbound) error) (int, error) {
	s.replaying.Lock()
	defer s.replaying.Unlock()
	last, err := s.rotate()
	if err != nil {
		return 0, err
	}
	segs, err := s.closedSegments(last)
	if err != nil {
		return 0, fmt.Errorf("spool: list %s: %w", s.dir, err)
	}
	total := 0
	for _, name := range segs {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := s.replaySegment(ctx, name, keep)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// rotate closes the segment appends go to, so that Replay can take it
// while appends carry on into a new one, and returns the sequence number
// of the newest closed segment.
func (s *Spool) rotate() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.flushing {
		s.cond.Wait()
	}
	if s.closed {
		return 0, ErrClosed
	}
	s.closeCurrent()
	return s.seq, nil
}

// closedSegments lists the segments numbered up to last, oldest first.
// Segments made after rotate are newer, so never one still written to.
func (s *Spool) closedSegments(last uint64) ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	type seg struct {
		seq  uint64
		name string
	}
	var segs []seg
	for _, e := range entries {
		if seq, ok := segmentSeq(e.Name()); ok && seq <= last && e.Type().IsRegular() {
			segs = append(segs, seg{seq, e.Name()})
		}
	}
	slices.SortFunc(segs, func(a, b seg) int { return cmpUint(a.seq, b.seq) })
	names := make([]string, len(segs))
	for i, sg := range segs {
		names[i] = sg.name
	}
	return names, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// record is one readable line of a segment: the push, and the line's
// bytes (newline included) to write back if the segment is rewritten.
type record struct {
	in   bot.Inbound
	line []byte
}

// replaySegment feeds one closed segment to keep. A segment fully taken is
// deleted; otherwise what was not taken is written back in its place, so
// the next Replay starts where this one stopped.
func (s *Spool) replaySegment(ctx context.Context, name string, keep func(context.Context, bot.Inbound) error) (int, error) {
	path := filepath.Join(s.dir, name)
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("spool: read segment %s: %w", name, err)
	}
	recs, bad := parseSegment(data)
	if bad > 0 {
		// Most likely a line torn by a crash mid-write: its Append never
		// returned, so WeChat was never answered and retried the push.
		// The count only: the line holds a member's words.
		s.log.Warn("spool segment has unreadable lines; skipped", "segment", name, "lines", bad)
	}
	s.mu.Lock()
	s.pending += len(recs) - s.counts[name]
	s.counts[name] = len(recs)
	s.mu.Unlock()

	taken := 0
	var stop error
	for _, r := range recs {
		if err := ctx.Err(); err != nil {
			stop = err
			break
		}
		if err := keep(ctx, r.in); err != nil {
			stop = fmt.Errorf("spool: replay push %s: %w", r.in.DedupeKey, err)
			break
		}
		taken++
		s.mu.Lock()
		s.counts[name]--
		s.pending--
		s.mu.Unlock()
	}

	if taken == len(recs) {
		if err := os.Remove(path); err != nil {
			// Left on disk, it is fed again by the next Replay.
			return taken, fmt.Errorf("spool: remove replayed segment %s: %w", name, err)
		}
		s.mu.Lock()
		delete(s.counts, name)
		s.mu.Unlock()
		// Should the removal not survive a crash, the segment is fed again.
		if err := syncDir(s.dir); err != nil {
			return taken, fmt.Errorf("spool: sync %s: %w", s.dir, err)
		}
		return taken, stop
	}
	if taken > 0 || bad > 0 {
		// Dropping unreadable lines too means each is logged once.
		if err := s.rewrite(path, recs[taken:]); err != nil {
			// The segment is still whole: the next Replay feeds again
			// what was taken here.
			return taken, errors.Join(stop, fmt.Errorf("spool: rewrite segment %s: %w", name, err))
		}
	}
	return taken, stop
}

// rewrite replaces the segment at path with recs, atomically: a crash
// leaves either the old segment or the new one.
func (s *Spool) rewrite(path string, recs []record) error {
	tmp := path + tmpExt
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	var buf []byte
	for _, r := range recs {
		buf = append(buf, r.line...)
	}
	_, err = f.Write(buf)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(s.dir)
}

// Close waits for appends under way and for a Replay in progress (cancel
// its context first), then closes the spool. Later Appends and Replays
// return ErrClosed. What is spooled stays for the next Open.
func (s *Spool) Close() error {
	s.replaying.Lock()
	defer s.replaying.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	// Appends already in a batch get written: they are waiting for it.
	for s.flushing || s.next != nil {
		if s.flushing {
			s.cond.Wait()
			continue
		}
		s.flush()
	}
	var err error
	if s.cur != nil {
		err = s.cur.Close()
		s.cur = nil
	}
	return errors.Join(err, s.lock.Close())
}

// line is the on-disk form of one push. In is kept raw so that the CRC is
// checked over exactly the bytes on disk.
type line struct {
	V   int             `json:"v"`
	CRC uint32          `json:"crc"`
	In  json.RawMessage `json:"in"`
}

func encode(in bot.Inbound) ([]byte, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, len(body)+40)
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, formatVersion, 10)
	b = append(b, `,"crc":`...)
	b = strconv.AppendUint(b, uint64(crc32.ChecksumIEEE(body)), 10)
	b = append(b, `,"in":`...)
	b = append(b, body...)
	b = append(b, "}\n"...)
	return b, nil
}

// decode reads one line (without its newline). A line that is not valid
// JSON, of another format version, or whose CRC does not match (a torn
// write that still parses, a flipped bit) is unreadable.
func decode(b []byte) (bot.Inbound, bool) {
	var l line
	if err := json.Unmarshal(b, &l); err != nil || l.V != formatVersion || len(l.In) == 0 {
		return bot.Inbound{}, false
	}
	if crc32.ChecksumIEEE(l.In) != l.CRC {
		return bot.Inbound{}, false
	}
	var in bot.Inbound
	if err := json.Unmarshal(l.In, &in); err != nil {
		return bot.Inbound{}, false
	}
	return in, true
}

// parseSegment splits a segment into its readable pushes and a count of
// unreadable lines. Blank lines are ignored.
func parseSegment(data []byte) (recs []record, bad int) {
	for len(data) > 0 {
		var ln []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			ln, data = data[:i+1], data[i+1:]
		} else {
			// A last line without its newline was torn; it is taken only
			// if it is whole anyway, CRC and all.
			ln, data = append(slices.Clip(data), '\n'), nil
		}
		body := bytes.TrimSuffix(ln, []byte{'\n'})
		if len(bytes.TrimSpace(body)) == 0 {
			continue
		}
		in, ok := decode(body)
		if !ok {
			bad++
			continue
		}
		recs = append(recs, record{in: in, line: ln})
	}
	return recs, bad
}
