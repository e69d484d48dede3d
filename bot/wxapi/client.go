// Package wxapi is nuanjia's one way of calling the WeChat HTTP API:
// customer-service, template and mass messages, tags, the menu and the
// access token they all need.
//
// It does not use silenceper/wechat's HTTP layer: that layer is a package
// global client with no context and no timeout, redirected by a global URI
// modifier (silenceper notes §4.1), and its token code has no cross-process
// lock and no recovery from 40001. Only the SDK's payload structs are reused
// where they serialise the way WeChat expects.
package wxapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultBaseURL is WeChat's API host.
const DefaultBaseURL = "https://api.weixin.qq.com"

const (
	// defaultTimeout bounds every request: a hung connection must not hold
	// a worker, and WeChat answers in well under a second when healthy.
	defaultTimeout = 10 * time.Second
	// tokenMargin is taken off expires_in so a cached token is never used
	// in its last minutes, when WeChat may already be rotating it.
	tokenMargin = 300 * time.Second
	// pollEvery is how often a process waiting for another's token refresh
	// looks at the cache.
	pollEvery = 50 * time.Millisecond
	// maxAnswer caps a JSON answer; WeChat's are small.
	maxAnswer = 1 << 20
)

// TokenCache shares the access token between processes (store.RedisTokens).
type TokenCache interface {
	// Token returns the cached token; "" and a nil error on a miss.
	Token(ctx context.Context, appID string) (string, error)
	// LockRefresh takes the cross-process refresh lock for ttl. ok is false
	// when another process holds it. unlock releases it only if still ours.
	LockRefresh(ctx context.Context, appID string, ttl time.Duration) (unlock func(), ok bool, err error)
	// StoreToken caches token for ttl.
	StoreToken(ctx context.Context, appID, token string, ttl time.Duration) error
	// InvalidateToken removes the cached token only if it is still token.
	InvalidateToken(ctx context.Context, appID, token string) error
}

// Config is what a Client needs.
type Config struct {
	AppID, AppSecret string
	BaseURL          string       // "" means DefaultBaseURL; tests point it at wxtest.FakeAPI
	HTTPClient       *http.Client // nil means a client of our own with a 10 s timeout
	Tokens           TokenCache
	Logger           *slog.Logger // nil discards
}

// Client calls the WeChat API for one official account. It is safe for
// concurrent use and holds no state besides its configuration: the token
// lives in the TokenCache.
type Client struct {
	appID, secret string
	base          string
	hc            *http.Client
	reqTimeout    time.Duration // per-request bound, set when hc has none
	lockTTL       time.Duration
	tokens        TokenCache
	log           *slog.Logger
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.AppID == "" || cfg.AppSecret == "" {
		return nil, errors.New("wxapi: AppID and AppSecret are required")
	}
	if cfg.Tokens == nil {
		return nil, errors.New("wxapi: a TokenCache is required")
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	if u, err := url.Parse(base); err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("wxapi: bad BaseURL %q", cfg.BaseURL)
	}
	c := &Client{appID: cfg.AppID, secret: cfg.AppSecret, base: base, hc: cfg.HTTPClient, tokens: cfg.Tokens, log: cfg.Logger}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: defaultTimeout}
	}
	timeout := c.hc.Timeout
	if timeout == 0 {
		// A caller's client without a timeout still gets one per request.
		c.reqTimeout, timeout = defaultTimeout, defaultTimeout
	}
	// The lock must outlive one token request, or a slow but healthy
	// refresher would be overtaken by a second one.
	c.lockTTL = timeout + 5*time.Second
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// AccessToken returns a valid token from the cache, fetching one (under the
// cross-process lock) when the cache is empty.
func (c *Client) AccessToken(ctx context.Context) (string, error) {
	tok, err := c.tokens.Token(ctx, c.appID)
	if err != nil {
		return "", fmt.Errorf("wxapi: token cache: %w", err)
	}
	if tok != "" {
		return tok, nil
	}
	return c.refresh(ctx, "")
}

// refresh returns a token other than bad ("" for a plain cache miss). One
// process fetches while holding the lock; the others poll the cache until
// its token appears. They fetch themselves only after taking the lock,
// which happens when the holder released it without storing a token or
// vanished and let it expire. The wait is bounded by the lock's TTL.
func (c *Client) refresh(ctx context.Context, bad string) (string, error) {
	deadline := time.Now().Add(c.lockTTL + time.Second)
	for {
		unlock, ok, err := c.tokens.LockRefresh(ctx, c.appID, c.lockTTL)
		if err != nil {
			return "", fmt.Errorf("wxapi: token lock: %w", err)
		}
		if ok {
			tok, err := c.refreshLocked(ctx, bad)
			unlock()
			return tok, err
		}
		t := time.NewTimer(pollEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", ctx.Err()
		case <-t.C:
		}
		tok, err := c.tokens.Token(ctx, c.appID)
		if err != nil {
			return "", fmt.Errorf("wxapi: token cache: %w", err)
		}
		if tok != "" && tok != bad {
			return tok, nil
		}
		if time.Now().After(deadline) {
			return "", errTokenWait
		}
	}
}

func (c *Client) refreshLocked(ctx context.Context, bad string) (string, error) {
	// Another process may have stored a token between our miss and the lock.
	if tok, err := c.tokens.Token(ctx, c.appID); err != nil {
		return "", fmt.Errorf("wxapi: token cache: %w", err)
	} else if tok != "" && tok != bad {
		return tok, nil
	}
	tok, life, err := c.fetchToken(ctx, false)
	if err == nil && bad != "" && tok == bad {
		// In normal mode the stable-token API keeps returning the token it
		// considers valid; only a forced refresh replaces one WeChat rejects.
		tok, life, err = c.fetchToken(ctx, true)
	}
	if err != nil {
		return "", err
	}
	ttl := life - tokenMargin
	if ttl <= 0 {
		ttl = life / 2
	}
	if ttl < time.Second {
		ttl = time.Second
	}
	if err := c.tokens.StoreToken(ctx, c.appID, tok, ttl); err != nil {
		// The token is good; this call can still use it. Other processes
		// will fetch their own, which the stable-token API makes harmless.
		c.log.LogAttrs(ctx, slog.LevelWarn, "wechat access token not cached", slog.String("error", err.Error()))
	}
	return tok, nil
}

type stableTokenReq struct {
	GrantType    string `json:"grant_type"`
	AppID        string `json:"appid"`
	Secret       string `json:"secret"`
	ForceRefresh bool   `json:"force_refresh"`
}

// tokenAPI is the endpoint tokens come from; its failures say that the
// call needing the token was never made.
const tokenAPI = "stable_token"

// fetchToken asks the stable-token endpoint, which (unlike /cgi-bin/token)
// does not invalidate the token other processes or environments hold.
func (c *Client) fetchToken(ctx context.Context, force bool) (string, time.Duration, error) {
	body, err := marshal(stableTokenReq{GrantType: "client_credential", AppID: c.appID, Secret: c.secret, ForceRefresh: force})
	if err != nil {
		return "", 0, err
	}
	var out struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	r := jsonRequest(tokenAPI, http.MethodPost, body)
	if err := c.roundTrip(ctx, r, c.base+"/cgi-bin/"+tokenAPI, &out); err != nil {
		return "", 0, err
	}
	if out.AccessToken == "" || out.ExpiresIn <= 0 {
		return "", 0, &Error{API: tokenAPI, Code: -1, Msg: "answer without access_token or expires_in"}
	}
	return out.AccessToken, time.Duration(out.ExpiresIn) * time.Second, nil
}

// request is one HTTP request as exchange sends it.
type request struct {
	api         string // the endpoint without /cgi-bin/; names the call in errors and logs
	method      string
	body        []byte // nil for none
	contentType string // of body
	limit       int64  // the most bytes of the answer read; more is an error
}

// jsonRequest is a request with a JSON body (or none) and a JSON answer.
func jsonRequest(api, method string, body []byte) request {
	r := request{api: api, method: method, body: body, limit: maxAnswer}
	if body != nil {
		r.contentType = "application/json; charset=utf-8"
	}
	return r
}

// answer is what a request got back with HTTP 200.
type answer struct {
	contentType string
	data        []byte
}

// do calls api with a JSON payload and decodes the JSON answer into out.
func (c *Client) do(ctx context.Context, api, method string, payload, out any) error {
	var body []byte
	if payload != nil {
		var err error
		if body, err = marshal(payload); err != nil {
			return err
		}
	}
	return c.call(ctx, jsonRequest(api, method, body), nil, out)
}

// call sends r to its endpoint with a token (and query, if any) and decodes
// the JSON answer into out. It logs the failure once.
func (c *Client) call(ctx context.Context, r request, query url.Values, out any) error {
	err := c.withToken(ctx, func(tok string) error {
		return c.roundTrip(ctx, r, c.apiURL(r.api, tok, query), out)
	})
	if err != nil {
		c.logFailure(ctx, r.api, err)
	}
	return err
}

// withToken runs attempt with the cached token, and on a token error
// invalidates that token and runs it once more with a fresh one. Every
// call that carries an access_token goes through it.
func (c *Client) withToken(ctx context.Context, attempt func(tok string) error) error {
	tok, err := c.AccessToken(ctx)
	if err != nil {
		return err
	}
	err = attempt(tok)
	if !isTokenError(err) {
		return err
	}
	if ierr := c.tokens.InvalidateToken(ctx, c.appID, tok); ierr != nil {
		return fmt.Errorf("wxapi: token cache: %w", ierr)
	}
	if tok, err = c.refresh(ctx, tok); err != nil {
		return err
	}
	return attempt(tok)
}

// apiURL is api's URL with the token and query. It is never put in an
// error or a log line.
func (c *Client) apiURL(api, tok string, query url.Values) string {
	u := c.base + "/cgi-bin/" + api + "?access_token=" + url.QueryEscape(tok)
	if len(query) > 0 {
		u += "&" + query.Encode()
	}
	return u
}

func isTokenError(err error) bool {
	var we *Error
	if !errors.As(err, &we) || we.Status != 0 {
		return false
	}
	return we.Code == 40001 || we.Code == 40014 || we.Code == 42001
}

// roundTrip sends one request to u and decodes its JSON answer into out.
func (c *Client) roundTrip(ctx context.Context, r request, u string, out any) error {
	a, err := c.exchange(ctx, r, u)
	if err != nil {
		return err
	}
	return decode(r.api, a.data, out)
}

// exchange sends one request and reads its answer. A status other than 200
// becomes *Error; transport failures become *transportError so the URL
// (and its access_token) never ends up in an error string.
func (c *Client) exchange(ctx context.Context, r request, u string) (answer, error) {
	if c.reqTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.reqTimeout)
		defer cancel()
	}
	var rd io.Reader
	if r.body != nil {
		rd = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, rd)
	if err != nil {
		return answer{}, &transportError{api: r.api, err: errors.New("cannot build request")}
	}
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return answer{}, &transportError{api: r.api, err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && resp.ContentLength > r.limit {
		// Said up front: no need to read what will be refused.
		return answer{}, r.tooLarge()
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, r.limit+1))
	if err != nil {
		return answer{}, &transportError{api: r.api, err: err}
	}
	if resp.StatusCode != http.StatusOK {
		return answer{}, &Error{API: r.api, Status: resp.StatusCode}
	}
	if int64(len(data)) > r.limit {
		return answer{}, r.tooLarge()
	}
	return answer{contentType: resp.Header.Get("Content-Type"), data: data}, nil
}

// tooLarge is the error of an answer longer than r allows.
func (r request) tooLarge() error {
	return fmt.Errorf("wechat %s: %w (%d bytes at most)", r.api, ErrTooLarge, r.limit)
}

// decode reads a JSON answer of api into out (nil to only check it). An
// errcode other than 0 becomes *Error.
func decode(api string, data []byte, out any) error {
	var status struct {
		Errcode int    `json:"errcode"`
		Errmsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(data, &status); err != nil {
		// A 200 that is not JSON comes from something in between, not from
		// the API; treat it like WeChat's own system error.
		return &Error{API: api, Code: -1, Msg: "answer is not JSON"}
	}
	if status.Errcode != 0 {
		return &Error{API: api, Code: status.Errcode, Msg: status.Errmsg}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return &Error{API: api, Code: -1, Msg: "unexpected answer: " + err.Error()}
		}
	}
	return nil
}

// logFailure writes the one line per failed call: the endpoint, errcode and
// kind. Never the payload, the openid or WeChat's errmsg (which can echo
// request fields).
func (c *Client) logFailure(ctx context.Context, api string, err error) {
	attrs := []slog.Attr{slog.String("api", api), slog.String("kind", KindOf(err).String())}
	var we *Error
	switch {
	case errors.As(err, &we):
		if we.Status != 0 {
			attrs = append(attrs, slog.Int("http_status", we.Status))
		} else {
			attrs = append(attrs, slog.Int("errcode", we.Code))
		}
		if we.API != api { // the token fetch failed, not the call itself
			attrs = append(attrs, slog.String("failed_api", we.API))
		}
	default:
		// Transport and token-cache errors carry no request data.
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	c.log.LogAttrs(ctx, slog.LevelWarn, "wechat api call failed", attrs...)
}

// marshal encodes without HTML escaping, so URLs and text reach WeChat
// verbatim ("&", "<") rather than as \u0026-style escapes.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("wxapi: encode request: %w", err)
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
