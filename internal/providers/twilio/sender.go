// Package twilio sends SMS through Twilio's REST API (via the official SDK's
// client and api/v2010 packages only) and handles Twilio webhooks: signature
// verification, status mapping and TwiML answers.
package twilio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/textback/textback/internal/sms"
)

// DefaultTimeout is the per-request timeout used when Config.Timeout is 0.
const DefaultTimeout = 10 * time.Second

// Config configures a Sender.
type Config struct {
	AccountSID string
	AuthToken  string
	// APIURL is the base URL of the Twilio REST API, "" = https://api.twilio.com.
	// Tests pass an httptest URL. Only scheme and host (with port) are used.
	APIURL string
	// Timeout bounds one request, response included. 0 means DefaultTimeout.
	Timeout time.Duration
}

// Sender is an sms.Provider backed by Twilio's Messages API. It is safe for
// concurrent use.
type Sender struct {
	creds      *client.Credentials
	accountSID string
	token      string
	timeout    time.Duration
	scheme     string // "" = keep the SDK's URL
	host       string
	base       http.RoundTripper
}

var _ sms.Provider = (*Sender)(nil)

// The SDK refuses (locally, with a 400 "Illegal chars" error) credentials
// that are not alphanumeric, so reject them up front.
var alphanumeric = regexp.MustCompile(`^[A-Za-z0-9]+$`)

// NewSender checks cfg and returns a Sender. It does not contact Twilio.
func NewSender(cfg Config) (*Sender, error) {
	if cfg.AccountSID == "" || cfg.AuthToken == "" {
		return nil, errors.New("twilio: account SID and auth token are required")
	}
	if !alphanumeric.MatchString(cfg.AccountSID) {
		return nil, errors.New("twilio: account SID must be alphanumeric")
	}
	if !alphanumeric.MatchString(cfg.AuthToken) {
		return nil, errors.New("twilio: auth token must be alphanumeric")
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("twilio: negative timeout %v", cfg.Timeout)
	}
	s := &Sender{
		creds:      client.NewCredentials(cfg.AccountSID, cfg.AuthToken),
		accountSID: cfg.AccountSID,
		token:      cfg.AuthToken,
		timeout:    cfg.Timeout,
	}
	if s.timeout == 0 {
		s.timeout = DefaultTimeout
	}
	if cfg.APIURL != "" {
		u, err := url.Parse(cfg.APIURL)
		if err != nil {
			return nil, fmt.Errorf("twilio: bad API URL: %w", err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return nil, fmt.Errorf("twilio: bad API URL %q: scheme must be http or https", cfg.APIURL)
		}
		if u.Host == "" || u.User != nil {
			return nil, fmt.Errorf("twilio: bad API URL %q: want scheme://host[:port]", cfg.APIURL)
		}
		s.scheme, s.host = u.Scheme, u.Host
	}
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t := dt.Clone()
		// Keep a connection per concurrent send: with Go's default of 2 idle
		// connections per host, a burst of sends opened (TLS) connections anew.
		t.MaxIdleConnsPerHost = 64
		s.base = t
	} else {
		s.base = http.DefaultTransport
	}
	return s, nil
}

// Name implements sms.Provider.
func (s *Sender) Name() string { return "twilio" }

// Send implements sms.Provider. Every error is a *sms.SendError:
//   - Twilio rejected the request (4xx other than 408/425/429): Permanent, with
//     Twilio's numeric error code in Code and its message in Message;
//   - 408, 425, 429 and 5xx: transient, certainly not sent;
//   - network failure before the request was fully written (connection
//     refused, DNS, TLS...): transient, not sent;
//   - network failure or timeout after it was written, or an unreadable
//     success answer: transient with MaybeSent.
//
// The SDK takes no context: ctx is attached to the underlying HTTP request, so
// cancelling it aborts the call; Config.Timeout bounds each call too.
func (s *Sender) Send(ctx context.Context, req sms.SendRequest) (sms.SendResult, error) {
	if err := ctx.Err(); err != nil {
		return sms.SendResult{}, &sms.SendError{Message: "send cancelled before reaching Twilio", Err: err}
	}

	tr := &attempt{}
	c := &client.Client{
		Credentials: s.creds,
		HTTPClient: &http.Client{
			Timeout:   s.timeout,
			Transport: &transport{base: s.base, scheme: s.scheme, host: s.host, ctx: ctx, attempt: tr},
			// Like the SDK's default client: never follow redirects.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	c.SetAccountSid(s.accountSID)
	api := openapi.NewApiServiceWithClient(c)

	params := &openapi.CreateMessageParams{}
	params.SetFrom(req.From)
	params.SetTo(req.To)
	params.SetBody(req.Body)
	if req.StatusCallback != "" {
		params.SetStatusCallback(req.StatusCallback)
	}

	resp, err := api.CreateMessage(params)
	if err != nil {
		return sms.SendResult{}, s.classify(err, tr)
	}
	if resp == nil || resp.Sid == nil || *resp.Sid == "" {
		// A success status without a message SID: Twilio probably accepted
		// it, but there is nothing to track it by.
		return sms.SendResult{}, &sms.SendError{MaybeSent: true, Message: "Twilio answered without a message SID"}
	}
	status := sms.StatusSent
	if resp.Status != nil {
		if st, ok := MessageStatus(*resp.Status); ok && st != sms.StatusSending {
			status = st
		}
	}
	return sms.SendResult{ProviderMessageID: *resp.Sid, Status: status}, nil
}

// classify turns an SDK error into a *sms.SendError.
func (s *Sender) classify(err error, tr *attempt) *sms.SendError {
	var (
		restErr *client.TwilioRestError
		v1Err   *client.RestErrorV1
		status  int
		code    int
		msg     string
	)
	switch {
	case errors.As(err, &restErr):
		status, code, msg = restErr.Status, restErr.Code, restErr.Message
	case errors.As(err, &v1Err):
		status, code, msg = v1Err.HttpStatusCode, v1Err.Code, v1Err.Message
	default:
		if tr.maybeSent() {
			return &sms.SendError{
				MaybeSent: true,
				Message:   "no usable answer from Twilio, the message may have been sent",
				Err:       s.redact(err),
			}
		}
		return &sms.SendError{Message: "could not reach Twilio", Err: s.redact(err)}
	}

	se := &sms.SendError{Message: s.redactString(msg), Err: s.redact(err)}
	tr.mu.Lock()
	se.RetryAfter = tr.retryAfter
	tr.mu.Unlock()
	if code != 0 {
		se.Code = strconv.Itoa(code)
	}
	if se.Message == "" {
		se.Message = fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
	}
	switch {
	case status == http.StatusRequestTimeout, status == http.StatusTooEarly,
		status == http.StatusTooManyRequests, status >= 500:
		// Transient: Twilio did not take the message.
	case status >= 400:
		se.Permanent = true
	default:
		// Not an HTTP error status (should not happen): outcome unknown.
		se.MaybeSent = true
	}
	return se
}

// redactString removes the auth token from s, should it ever appear.
func (s *Sender) redactString(str string) string {
	if s.token == "" || !strings.Contains(str, s.token) {
		return str
	}
	return strings.ReplaceAll(str, s.token, "[REDACTED]")
}

func (s *Sender) redact(err error) error {
	if err == nil || !strings.Contains(err.Error(), s.token) {
		return err
	}
	return &redactedError{msg: s.redactString(err.Error()), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// attempt records how far one Send's HTTP exchange got, to tell "never
// reached Twilio" from "Twilio may have it".
type attempt struct {
	mu         sync.Mutex
	connected  bool          // a connection is held and the request not known to have failed writing
	written    bool          // the whole request was written at least once
	retryAfter time.Duration // Retry-After of an error answer
}

func (a *attempt) gotConn(httptrace.GotConnInfo) {
	a.mu.Lock()
	a.connected = true
	a.mu.Unlock()
}

func (a *attempt) wroteRequest(info httptrace.WroteRequestInfo) {
	a.mu.Lock()
	if info.Err == nil {
		a.written = true
	} else {
		// The request never got out whole: Twilio cannot act on it. (The
		// transport may retry on a fresh connection; gotConn will say so.)
		a.connected = false
	}
	a.mu.Unlock()
}

// maybeSent is true once the request was written, or while writing it was
// in progress and its outcome unknown.
func (a *attempt) maybeSent() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.written || a.connected
}

// transport points the SDK's requests at the configured API host, attaches
// Send's context and traces the exchange. It also normalizes HTTP error
// answers into Twilio's JSON error shape, with Status set to the real HTTP
// status, so that the SDK always returns a *client.TwilioRestError for them
// (it otherwise returns an opaque decode error for non-JSON bodies, e.g. an
// HTML 502 page from a proxy).
type transport struct {
	base         http.RoundTripper
	scheme, host string
	ctx          context.Context
	attempt      *attempt
}

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := t.ctx
	if ctx == nil {
		ctx = req.Context()
	}
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn:      t.attempt.gotConn,
		WroteRequest: t.attempt.wroteRequest,
	})
	// Stop when either the SDK's request (client Timeout) or Send's ctx ends.
	ctx, cancel := mergeCancel(ctx, req.Context())
	r := req.Clone(ctx)
	if t.host != "" {
		r.URL.Scheme = t.scheme
		r.URL.Host = t.host
		r.Host = t.host
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	if resp.StatusCode >= 400 {
		if d := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); d > 0 {
			t.attempt.mu.Lock()
			t.attempt.retryAfter = d
			t.attempt.mu.Unlock()
		}
		normalizeError(resp)
	}
	return resp, nil
}

// mergeCancel returns a context carrying a's values that is also cancelled
// when b is done.
func mergeCancel(a, b context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(a)
	stop := context.AfterFunc(b, func() { cancel(context.Cause(b)) })
	return ctx, func() {
		stop()
		cancel(context.Canceled)
	}
}

type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
	once   sync.Once
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.cancel)
	return err
}

// normalizeError rewrites an HTTP error answer's body as Twilio's JSON error.
func normalizeError(resp *http.Response) {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	var e client.TwilioRestError
	if json.Unmarshal(data, &e) != nil {
		e = client.TwilioRestError{}
	}
	e.Status = resp.StatusCode
	if e.Message == "" {
		e.Message = fmt.Sprintf("HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	out, err := json.Marshal(&e)
	if err != nil { // cannot happen with decoded JSON; keep the status at least
		out = []byte(fmt.Sprintf(`{"status":%d}`, resp.StatusCode))
	}
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Type", "application/json")
	resp.Header.Del("Content-Encoding")
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
}

// maxRetryAfter caps how long a provider's Retry-After can hold a message.
const maxRetryAfter = 10 * time.Minute

// parseRetryAfter reads an HTTP Retry-After value (seconds or an HTTP
// date); 0 when absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil {
		if n > int(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}
