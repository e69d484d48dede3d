package evidence_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"nuanjia/bot"
	"nuanjia/bot/evidence"
	"nuanjia/bot/wxapi"
	"nuanjia/internal/pgtest"
	"nuanjia/internal/testkit"
	"nuanjia/internal/wxtest"
	"nuanjia/store"
)

// The parts serve wires together fit the fetcher's interfaces.
var (
	_ evidence.Queue  = (*store.Store)(nil)
	_ evidence.Client = (*wxapi.Client)(nil)
)

const mediaGet = "media/get"

// env is one database, one fake WeChat and one Redis token cache; every
// fetcher made from it acts like a separate serve process.
type env struct {
	url    string
	st     *store.Store
	rd     *store.Redis
	fake   *wxtest.FakeAPI
	api    string
	logs   *testkit.LogBuffer
	caseID int64
	nextID int64 // message ids of the evidence rows
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{url: pgtest.URL(t), fake: wxtest.NewFakeAPI(), logs: &testkit.LogBuffer{}}
	e.st = testkit.StoreAt(t, e.url)
	e.rd = testkit.Redis(t)
	srv := httptest.NewServer(e.fake)
	t.Cleanup(srv.Close)
	e.api = srv.URL
	if err := e.st.DB().Get(&e.caseID, `INSERT INTO cases (openid, branch_id, category, kind, status, summary)
		VALUES ('oMember', 'anlong', 'wages', 'help', 'open', '老板拖欠工资三个月了') RETURNING id`); err != nil {
		t.Fatalf("insert case: %v", err)
	}
	return e
}

// fetcher is a fetcher of its own process: its own pool and client.
func (e *env) fetcher(t *testing.T, cfg evidence.Config) *evidence.Fetcher {
	t.Helper()
	c, err := wxapi.New(wxapi.Config{
		AppID: wxtest.FakeAppID, AppSecret: wxtest.FakeSecret, BaseURL: e.api,
		Tokens: store.NewRedisTokens(e.rd.Client(), e.rd.Prefix()),
		Logger: slog.New(slog.NewTextHandler(e.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return evidence.New(cfg, testkit.StoreAt(t, e.url), c, slog.New(slog.NewTextHandler(e.logs, nil)))
}

// add attaches a medium the member sent ago to the case, as the case book
// does, and returns its row id.
func (e *env) add(t *testing.T, kind, mediaID string, ago time.Duration) int64 {
	t.Helper()
	e.nextID++
	var id int64
	if err := e.st.DB().Get(&id, `INSERT INTO case_evidence (case_id, message_id, openid, kind, media_id, at, expires)
		VALUES ($1, $2, 'oMember', $3, $4, now() - make_interval(secs => $5),
			now() - make_interval(secs => $5) + make_interval(secs => $6))
		RETURNING id`, e.caseID, e.nextID, kind, mediaID, ago.Seconds(), bot.MediaLifetime.Seconds()); err != nil {
		t.Fatalf("insert evidence: %v", err)
	}
	return id
}

// row is an evidence row as a director looking at the database sees it.
type row struct {
	Fetched   bool   `db:"fetched"`
	Failed    bool   `db:"failed"`
	Attempts  int    `db:"attempts"`
	LastError string `db:"last_error"`
	Waits     bool   `db:"waits"` // next_attempt is in the future
}

func (e *env) row(t *testing.T, id int64) row {
	t.Helper()
	var r row
	if err := e.st.DB().Get(&r, `SELECT fetched_at IS NOT NULL AS fetched, failed, attempts, last_error,
			next_attempt > now() AS waits
		FROM case_evidence WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	return r
}

// makeDue makes every waiting row due now, as time passing would.
func (e *env) makeDue(t *testing.T) {
	t.Helper()
	if _, err := e.st.DB().Exec(`UPDATE case_evidence SET next_attempt = now() WHERE fetched_at IS NULL AND NOT failed`); err != nil {
		t.Fatal(err)
	}
}

func fetchDue(t *testing.T, f *evidence.Fetcher) int {
	t.Helper()
	n, err := f.FetchDue(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// gets counts the downloads of mediaID WeChat answered.
func (e *env) gets(mediaID string) int {
	n := 0
	for _, c := range e.fake.Calls(mediaGet) {
		if c.Query.Get("media_id") == mediaID {
			n++
		}
	}
	return n
}

func TestMediaIsFetchedAndStored(t *testing.T) {
	e := newEnv(t)
	f := e.fetcher(t, evidence.Config{})
	photo := []byte("\xff\xd8\xff\xe0\x00\x10JFIF PHOTO-BYTES-OF-THE-MINE")
	voice := []byte("#!AMR\nVOICE-BYTES")
	video := []byte("\x00\x00\x00\x18ftypmp42VIDEO-BYTES")
	e.fake.PutMedia("MEDIA_PHOTO", "image/jpeg", photo)
	e.fake.PutMedia("MEDIA_VOICE", "audio/amr", voice)
	e.fake.PutMedia("MEDIA_VIDEO", "video/mp4", video)
	ids := map[int64][]byte{
		e.add(t, bot.TypeImage, "MEDIA_PHOTO", time.Minute): photo,
		e.add(t, bot.TypeVoice, "MEDIA_VOICE", time.Minute): voice,
		e.add(t, bot.TypeVideo, "MEDIA_VIDEO", time.Minute): video,
	}
	wantType := map[string]string{string(photo): "image/jpeg", string(voice): "audio/amr", string(video): "video/mp4"}

	if n := fetchDue(t, f); n != 3 {
		t.Fatalf("FetchDue claimed %d rows, want 3", n)
	}
	for id, want := range ids {
		ct, data, err := e.st.EvidenceData(context.Background(), id)
		if err != nil || string(data) != string(want) || ct != wantType[string(want)] {
			t.Errorf("evidence %d = %q %q %v, want %q", id, ct, data, err, want)
		}
		if r := e.row(t, id); !r.Fetched || r.Failed || r.Attempts != 1 || r.LastError != "" {
			t.Errorf("row %d: %+v", id, r)
		}
	}
	if n := fetchDue(t, f); n != 0 {
		t.Errorf("a second round claimed %d rows", n)
	}
	for _, id := range []string{"MEDIA_PHOTO", "MEDIA_VOICE", "MEDIA_VIDEO"} {
		if n := e.gets(id); n != 1 {
			t.Errorf("%s downloaded %d times", id, n)
		}
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "MEDIA_PHOTO") {
		t.Errorf("the log does not name the media: %s", logs)
	}
	for _, secret := range []string{"BYTES", "JFIF", "oMember", "工资"} {
		if strings.Contains(logs, secret) {
			t.Errorf("%q leaked into the log: %s", secret, logs)
		}
	}
}

func TestUnknownMediaIsFailed(t *testing.T) {
	e := newEnv(t)
	f := e.fetcher(t, evidence.Config{})
	id := e.add(t, bot.TypeImage, "MEDIA_GONE", time.Minute) // WeChat does not know it: 40007

	fetchDue(t, f)
	r := e.row(t, id)
	if !r.Failed || r.Fetched || !strings.Contains(r.LastError, "errcode 40007") {
		t.Fatalf("row: %+v", r)
	}
	e.makeDue(t)
	if n := fetchDue(t, f); n != 0 || e.gets("MEDIA_GONE") != 1 {
		t.Errorf("a failed row was tried again: claimed %d, %d downloads", n, e.gets("MEDIA_GONE"))
	}
}

func TestTransientFailuresAreRetried(t *testing.T) {
	for _, tc := range []struct {
		name, lastError string
		inject          func(f *wxtest.FakeAPI)
	}{
		{"5xx", "media/get: http 502", func(f *wxtest.FakeAPI) { f.Status5xx(mediaGet, 1) }},
		{"system error", "media/get: errcode -1", func(f *wxtest.FakeAPI) { f.FailNext(mediaGet, -1, 1) }},
		{"token endpoint", "stable_token: http 502", func(f *wxtest.FakeAPI) { f.Status5xx("stable_token", 1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			f := e.fetcher(t, evidence.Config{})
			photo := []byte("PHOTO")
			e.fake.PutMedia("MEDIA_PHOTO", "image/jpeg", photo)
			id := e.add(t, bot.TypeImage, "MEDIA_PHOTO", time.Minute)
			tc.inject(e.fake)

			fetchDue(t, f)
			r := e.row(t, id)
			if r.Fetched || r.Failed || !r.Waits || r.Attempts != 1 || !strings.HasPrefix(r.LastError, tc.lastError) {
				t.Fatalf("row after the failure: %+v", r)
			}
			if n := fetchDue(t, f); n != 0 {
				t.Fatalf("claimed %d rows during the backoff", n)
			}
			e.makeDue(t)
			fetchDue(t, f)
			if r := e.row(t, id); !r.Fetched || r.Attempts != 2 || r.LastError != "" {
				t.Fatalf("row after the retry: %+v", r)
			}
			if _, data, err := e.st.EvidenceData(context.Background(), id); err != nil || string(data) != "PHOTO" {
				t.Errorf("EvidenceData = %q, %v", data, err)
			}
		})
	}
}

func TestRetriesAreBounded(t *testing.T) {
	e := newEnv(t)
	f := e.fetcher(t, evidence.Config{MaxAttempts: 2})
	e.fake.PutMedia("MEDIA_PHOTO", "image/jpeg", []byte("PHOTO"))
	id := e.add(t, bot.TypeImage, "MEDIA_PHOTO", time.Minute)
	e.fake.FailNext(mediaGet, -1, 5)

	for range 3 {
		fetchDue(t, f)
		e.makeDue(t)
	}
	r := e.row(t, id)
	if !r.Failed || r.Attempts != 2 || r.LastError != "gave up after 2 attempts: media/get: errcode -1: injected by wxtest.FakeAPI" {
		t.Fatalf("row: %+v", r)
	}
	if n := e.gets("MEDIA_PHOTO"); n != 2 {
		t.Errorf("downloaded %d times, want 2", n)
	}
}

func TestExpiredRowIsFailedWithoutACall(t *testing.T) {
	e := newEnv(t)
	f := e.fetcher(t, evidence.Config{})
	e.fake.PutMedia("MEDIA_OLD", "image/jpeg", []byte("PHOTO"))
	id := e.add(t, bot.TypeImage, "MEDIA_OLD", bot.MediaLifetime+time.Hour) // the bot was down for 3 days

	if n := fetchDue(t, f); n != 0 {
		t.Fatalf("FetchDue claimed %d rows", n)
	}
	if r := e.row(t, id); !r.Failed || r.Fetched || !strings.Contains(r.LastError, "expired") {
		t.Errorf("row: %+v", r)
	}
	if n := len(e.fake.Calls(mediaGet)); n != 0 {
		t.Errorf("media/get called %d times", n)
	}
}

// Two serve processes fetching at once download each medium once.
func TestTwoFetchersFetchEachRowOnce(t *testing.T) {
	e := newEnv(t)
	const rows = 40
	for i := range rows {
		id := fmt.Sprintf("MEDIA_%d", i)
		e.fake.PutMedia(id, "image/jpeg", []byte("PHOTO "+id))
		e.add(t, bot.TypeImage, id, time.Minute)
	}
	e.fake.Delay(mediaGet, 20*time.Millisecond) // downloads overlap

	var wg sync.WaitGroup
	for range 2 {
		f := e.fetcher(t, evidence.Config{Batch: 4, Workers: 2})
		wg.Go(func() {
			for {
				n, err := f.FetchDue(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				if n == 0 {
					return
				}
			}
		})
	}
	wg.Wait()

	var fetched int
	if err := e.st.DB().Get(&fetched, `SELECT count(*) FROM case_evidence WHERE fetched_at IS NOT NULL AND attempts = 1`); err != nil {
		t.Fatal(err)
	}
	if fetched != rows {
		t.Errorf("%d rows fetched at the first attempt, want %d", fetched, rows)
	}
	for i := range rows {
		id := fmt.Sprintf("MEDIA_%d", i)
		if n := e.gets(id); n != 1 {
			t.Errorf("%s downloaded %d times", id, n)
		}
	}
}
