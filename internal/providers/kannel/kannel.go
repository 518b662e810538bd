// Package kannel sends SMS through a Kannel gateway's sendsms interface and
// reads what Kannel calls back with: delivery reports (dlr-url) and inbound
// SMS (an sms-service get-url).
//
// A message is POSTed as text/plain UTF-8 with X-Kannel-* headers (the
// password stays out of URLs and access logs), with coding 2 (UCS-2) when
// textback's counter says it needs UCS-2, dlr-mask 31 and a dlr-url that
// points back at textback with a secret token and the message's id. Kannel
// splits long messages itself: its sendsms-user needs max-messages large
// enough (textback allows up to 1,600 characters: 25 parts of UCS-2).
package kannel

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/textback/textback/internal/sms"
)

// Name is the provider name used in tracking numbers and messages.
const Name = "kannel"

// DefaultTimeout bounds one sendsms request when Config.Timeout is 0.
const DefaultTimeout = 10 * time.Second

// DLRMask asks for every report: 1 delivered, 2 undelivered, 4 queued on
// the SMSC, 8 accepted by the SMSC, 16 rejected by the SMSC.
const DLRMask = 31

// Config configures a Sender.
type Config struct {
	SendSMSURL string // e.g. http://kannel:13013/cgi-bin/sendsms
	Username   string // a sendsms-user group's username
	Password   string
	// DLRURL returns the dlr-url for a message ("" for no reports). It may
	// contain Kannel's escapes (%d is the report type).
	DLRURL  func(messageID string) string
	Timeout time.Duration
	Client  *http.Client // nil: a client of its own
}

// Sender is an sms.Provider backed by Kannel's sendsms. It is safe for
// concurrent use.
type Sender struct {
	cfg    Config
	client *http.Client
}

var _ sms.Provider = (*Sender)(nil)

// NewSender checks cfg. It does not contact Kannel.
func NewSender(cfg Config) (*Sender, error) {
	if err := ValidateURL(cfg.SendSMSURL); err != nil {
		return nil, err
	}
	if cfg.Username == "" || cfg.Password == "" {
		return nil, errors.New("kannel: username and password are required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	c := cfg.Client
	if c == nil {
		c = &http.Client{Timeout: cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &Sender{cfg: cfg, client: c}, nil
}

// ValidateURL checks a sendsms URL: http or https, a host, no credentials.
func ValidateURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil || s == "":
		return errors.New("kannel: the sendsms URL is not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("kannel: the sendsms URL must start with http:// or https://")
	case u.Host == "":
		return errors.New("kannel: the sendsms URL has no host")
	case u.User != nil:
		return errors.New("kannel: give the username and password as fields, not in the URL")
	}
	return nil
}

// Name implements sms.Provider.
func (s *Sender) Name() string { return Name }

// Send implements sms.Provider. Kannel's answer decides:
//   - 2xx ("0: Accepted for delivery", "3: Queued for later delivery"):
//     accepted; the provider message id is textback's own id, which the
//     delivery reports carry back;
//   - 5xx: transient, not sent (Kannel could not queue it);
//   - other 4xx (wrong credentials, missing or refused number): Permanent;
//   - a network failure before the request was written: transient, not
//     sent; after it was written, or a timeout: transient with MaybeSent.
func (s *Sender) Send(ctx context.Context, req sms.SendRequest) (sms.SendResult, error) {
	if err := ctx.Err(); err != nil {
		return sms.SendResult{}, &sms.SendError{Message: "send cancelled before reaching Kannel", Err: err}
	}
	r, err := s.request(ctx, req)
	if err != nil {
		return sms.SendResult{}, &sms.SendError{Permanent: true, Message: err.Error()}
	}
	var mu sync.Mutex
	written := false
	r = r.WithContext(httptrace.WithClientTrace(r.Context(), &httptrace.ClientTrace{
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			mu.Lock()
			written = written || info.Err == nil
			mu.Unlock()
		},
	}))
	resp, err := s.client.Do(r)
	if err != nil {
		mu.Lock()
		maybe := written
		mu.Unlock()
		if maybe {
			return sms.SendResult{}, &sms.SendError{MaybeSent: true, Message: "no answer from Kannel, the message may have been sent", Err: s.redact(err)}
		}
		return sms.SendResult{}, &sms.SendError{Message: "could not reach Kannel", Err: s.redact(err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	answer := strings.TrimSpace(string(body))
	switch {
	case resp.StatusCode/100 == 2:
		return sms.SendResult{ProviderMessageID: req.MessageID, Status: sms.StatusSent}, nil
	case resp.StatusCode >= 500:
		return sms.SendResult{}, &sms.SendError{Code: strconv.Itoa(resp.StatusCode), Message: "Kannel: " + s.redactString(orStatus(answer, resp))}
	}
	return sms.SendResult{}, &sms.SendError{Permanent: true, Code: strconv.Itoa(resp.StatusCode), Message: "Kannel: " + s.redactString(orStatus(answer, resp))}
}

func orStatus(answer string, resp *http.Response) string {
	if answer == "" {
		return resp.Status
	}
	return answer
}

func (s *Sender) request(ctx context.Context, req sms.SendRequest) (*http.Request, error) {
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.SendSMSURL, bytes.NewReader([]byte(req.Body)))
	if err != nil {
		return nil, fmt.Errorf("kannel: %w", err)
	}
	h := r.Header
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Kannel-Username", s.cfg.Username)
	h.Set("X-Kannel-Password", s.cfg.Password)
	h.Set("X-Kannel-From", req.From)
	h.Set("X-Kannel-To", req.To)
	if sms.Count(req.Body).Encoding == sms.EncodingUCS2 {
		h.Set("X-Kannel-Coding", "2") // Kannel converts the UTF-8 text to UCS-2
	}
	if s.cfg.DLRURL != nil {
		if u := s.cfg.DLRURL(req.MessageID); u != "" {
			h.Set("X-Kannel-DLR-Mask", strconv.Itoa(DLRMask))
			h.Set("X-Kannel-DLR-Url", u)
		}
	}
	return r, nil
}

func (s *Sender) redactString(str string) string {
	if s.cfg.Password == "" {
		return str
	}
	return strings.ReplaceAll(str, s.cfg.Password, "[REDACTED]")
}

func (s *Sender) redact(err error) error {
	if err == nil || !strings.Contains(err.Error(), s.cfg.Password) {
		return err
	}
	return errors.New(s.redactString(err.Error()))
}

// Report is what one delivery report means for the message.
type Report struct {
	Status sms.Status // "" when the report changes nothing
	Error  string
}

// DLRStatus maps a Kannel report type (the %d escape): 1 delivered → delivered;
// 2 undelivered → undelivered; 4 queued on the SMSC and 8 accepted by the
// SMSC → sent; 16 rejected by the SMSC → failed. Kannel had accepted the
// message, so a rejection is not refunded. ok is false for other values.
func DLRStatus(code int) (Report, bool) {
	switch code {
	case 1:
		return Report{Status: sms.StatusDelivered}, true
	case 2:
		return Report{Status: sms.StatusUndelivered, Error: "Kannel: undelivered (DLR 2)"}, true
	case 4, 8:
		return Report{Status: sms.StatusSent}, true
	case 16:
		return Report{Status: sms.StatusFailed, Error: "Kannel: rejected by the SMSC (DLR 16)"}, true
	}
	return Report{}, false
}

// Token is the secret a workspace's Kannel callbacks carry: an HMAC of the
// workspace id keyed with the workspace's webhook signing secret, so it
// changes when that secret is regenerated and reveals nothing of it.
func Token(secret, workspaceID string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("kannel-callback:" + workspaceID))
	return hex.EncodeToString(m.Sum(nil))[:40]
}

// CheckToken compares a callback's token with the workspace's, in constant time.
func CheckToken(given, secret, workspaceID string) bool {
	return secret != "" && subtle.ConstantTimeCompare([]byte(given), []byte(Token(secret, workspaceID))) == 1
}

// DLRURL is the dlr-url of one message: base is the workspace's callback
// base URL (…/webhooks/kannel/{workspace}); Kannel fills in %d (the report
// type) and %A (the SMSC's answer).
func DLRURL(base, token, messageID string) string {
	return base + "/dlr?token=" + url.QueryEscape(token) + "&message_id=" + url.QueryEscape(messageID) + "&type=%d&answer=%A"
}

// MOURL is the get-url of a Kannel sms-service that forwards inbound SMS to
// textback: %p is the sender, %P the receiver (the tracking number), %a the text.
func MOURL(base, token string) string {
	return base + "/mo?token=" + url.QueryEscape(token) + "&from=%p&to=%P&text=%a"
}
