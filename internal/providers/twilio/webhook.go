package twilio

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/twilio/twilio-go/client"

	"github.com/textback/textback/internal/sms"
)

// Webhook verification errors.
var (
	ErrBadSignature = errors.New("twilio: missing or invalid X-Twilio-Signature")
	ErrMalformed    = errors.New("twilio: malformed webhook body")
	ErrTooLarge     = errors.New("twilio: webhook body too large")
)

// MaxWebhookBody is the largest webhook body Verify accepts.
const MaxWebhookBody = 64 << 10

// SignatureHeader is the header Twilio signs its webhook requests with.
const SignatureHeader = "X-Twilio-Signature"

// Verify checks r's X-Twilio-Signature with the SDK's request validator over
// publicURL (the public base URL Twilio was configured with, e.g.
// "https://tb.example.com"; a trailing slash is ignored) + r.URL.RequestURI()
// and the POST form parameters, which it reads from the body (at most
// MaxWebhookBody bytes, Content-Type application/x-www-form-urlencoded).
//
// It returns the body's form values on success; ErrBadSignature when the
// header is missing or wrong (or authToken is empty), ErrTooLarge when the body
// exceeds the limit, ErrMalformed when it cannot be parsed. r.Body is consumed
// and replaced by a reader over the same bytes.
func Verify(r *http.Request, publicURL, authToken string) (url.Values, error) {
	sig := r.Header.Get(SignatureHeader)
	if sig == "" || authToken == "" {
		return nil, ErrBadSignature
	}
	if r.ContentLength > MaxWebhookBody {
		return nil, ErrTooLarge
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return nil, ErrMalformed
		}
	} else {
		return nil, ErrMalformed
	}
	var body []byte
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(io.LimitReader(r.Body, MaxWebhookBody+1))
		if err != nil {
			return nil, ErrMalformed
		}
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	if len(body) > MaxWebhookBody {
		return nil, ErrTooLarge
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, ErrMalformed
	}

	fullURL := strings.TrimSuffix(publicURL, "/") + r.URL.RequestURI()
	params := make(map[string]string, len(form))
	multi := false
	for k, v := range form {
		params[k] = v[0]
		multi = multi || len(v) > 1
	}
	v := client.NewRequestValidator(authToken)
	if v.Validate(fullURL, params, sig) {
		return form, nil
	}
	// The SDK only signs the first value of a repeated parameter; Twilio signs
	// them all. Accept Twilio's form too.
	if multi && hmac.Equal([]byte(Sign(authToken, fullURL, form)), []byte(sig)) {
		return form, nil
	}
	return nil, ErrBadSignature
}

// Sign computes the X-Twilio-Signature Twilio would send for a POST of params
// to fullURL: base64(HMAC-SHA1(authToken, fullURL + each parameter name, in
// sorted order, followed by its value)). A repeated parameter contributes
// each of its values, sorted.
func Sign(authToken, fullURL string, params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	mac := hmac.New(sha1.New, []byte(authToken))
	io.WriteString(mac, fullURL)
	for _, k := range keys {
		vals := params[k]
		if len(vals) > 1 {
			vals = append([]string(nil), vals...)
			sort.Strings(vals)
		}
		for _, v := range vals {
			io.WriteString(mac, k)
			io.WriteString(mac, v)
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// MessageStatus maps a Twilio MessageStatus value to sms.Status:
// accepted, queued, scheduled, sending → StatusSending; sent → StatusSent;
// delivered, read → StatusDelivered; undelivered → StatusUndelivered;
// failed, canceled → StatusFailed. ok is false for anything else (receiving,
// received, unknown values).
func MessageStatus(s string) (sms.Status, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "accepted", "queued", "scheduled", "sending":
		return sms.StatusSending, true
	case "sent":
		return sms.StatusSent, true
	case "delivered", "read":
		return sms.StatusDelivered, true
	case "undelivered":
		return sms.StatusUndelivered, true
	case "failed", "canceled":
		return sms.StatusFailed, true
	}
	return "", false
}

// withheld holds the lower-cased From/Caller values meaning the caller's
// number is hidden.
var withheld = map[string]bool{
	"":             true,
	"anonymous":    true,
	"restricted":   true,
	"unknown":      true,
	"private":      true,
	"unavailable":  true,
	"blocked":      true,
	"+266696687":   true, // ANONYMOUS on a keypad
	"266696687":    true,
	"+7378742833":  true, // RESTRICTED
	"7378742833":   true,
	"+86282452253": true, // UNAVAILABLE
	"86282452253":  true,
	"+2562533":     true, // BLOCKED
	"2562533":      true,
}

// IsWithheld reports whether a Twilio From/Caller value means the caller's
// number is hidden (empty, "anonymous", Twilio's keypad markers such as
// +266696687...), case-insensitively and ignoring surrounding spaces.
func IsWithheld(from string) bool {
	return withheld[strings.ToLower(strings.TrimSpace(from))]
}

// TwiML

type twimlNumber struct {
	XMLName xml.Name `xml:"Number"`
	Number  string   `xml:",chardata"`
}

type twimlDial struct {
	XMLName xml.Name    `xml:"Dial"`
	Timeout string      `xml:"timeout,attr,omitempty"`
	Action  string      `xml:"action,attr,omitempty"`
	Method  string      `xml:"method,attr,omitempty"`
	Number  twimlNumber `xml:"Number"`
}

type twimlResponse struct {
	XMLName xml.Name   `xml:"Response"`
	Dial    *twimlDial `xml:"Dial,omitempty"`
}

func renderTwiML(resp twimlResponse) []byte {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	if err := xml.NewEncoder(&buf).Encode(resp); err != nil {
		// Only fixed struct types of strings are encoded: cannot happen.
		panic("twilio: encoding TwiML: " + err.Error())
	}
	return buf.Bytes()
}

// DialTwiML answers a call by forwarding it to forwardTo for up to
// timeoutSeconds (omitted when <= 0), then POSTing the outcome to actionURL
// (omitted when ""):
//
//	<?xml version="1.0" encoding="UTF-8"?>
//	<Response><Dial timeout="20" action="https://..." method="POST"><Number>+1...</Number></Dial></Response>
func DialTwiML(forwardTo string, timeoutSeconds int, actionURL string) []byte {
	d := twimlDial{Number: twimlNumber{Number: forwardTo}}
	if timeoutSeconds > 0 {
		d.Timeout = strconv.Itoa(timeoutSeconds)
	}
	if actionURL != "" {
		d.Action = actionURL
		d.Method = http.MethodPost
	}
	return renderTwiML(twimlResponse{Dial: &d})
}

// HangupTwiML answers a call by hanging up:
//
//	<?xml version="1.0" encoding="UTF-8"?>
//	<Response><Hangup/></Response>
func HangupTwiML() []byte { return []byte(xml.Header + "<Response><Hangup/></Response>") }

// EmptyTwiML is an answer with nothing to do:
//
//	<?xml version="1.0" encoding="UTF-8"?>
//	<Response></Response>
func EmptyTwiML() []byte { return renderTwiML(twimlResponse{}) }
