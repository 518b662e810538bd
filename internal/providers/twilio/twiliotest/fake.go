// Package twiliotest is a fake of Twilio's Messages API for end-to-end tests
// driven through the real SDK (point twilio.Config.APIURL at Server.URL).
package twiliotest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/textback/textback/internal/sms"
)

// Credentials the server accepts until SetCredentials is called.
const (
	DefaultAccountSID = "AC00000000000000000000000000000001"
	DefaultAuthToken  = "faketoken0000000000000000000001"
)

// Message is one message the fake accepted.
type Message struct {
	Sid            string
	AccountSID     string // from the request path
	To             string
	From           string
	Body           string
	StatusCallback string
	Form           url.Values // every posted parameter, as received
	ReceivedAt     time.Time
}

type fault struct {
	left    int
	status  int
	code    int
	message string
}

// Server is a fake Twilio REST API. It is safe for concurrent use.
type Server struct {
	URL string

	srv *httptest.Server

	mu        sync.Mutex
	sid       string
	token     string
	messages  []Message
	requests  int
	faults    []fault
	onMessage func(Message)
}

// New starts a fake Twilio API server, closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{sid: DefaultAccountSID, token: DefaultAuthToken}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// SetCredentials sets the account SID and auth token requests must carry
// (HTTP basic auth) and the SID the request path must name.
func (s *Server) SetCredentials(sid, token string) {
	s.mu.Lock()
	s.sid, s.token = sid, token
	s.mu.Unlock()
}

// Messages returns the accepted messages in order of arrival.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.messages))
	for i, m := range s.messages {
		m.Form = cloneValues(m.Form)
		out[i] = m
	}
	return out
}

// Requests returns how many POST requests the server received, accepted or not.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// FailNext makes the next n POST requests fail with HTTP status and Twilio's
// JSON error body {"code":code,"message":message,"more_info":...,"status":status}.
// Faults queue up in the order they were added and come before any other
// check (credentials included).
func (s *Server) FailNext(n int, status int, code int, message string) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	s.faults = append(s.faults, fault{left: n, status: status, code: code, message: message})
	s.mu.Unlock()
}

// OnMessage sets a hook called (outside the server's lock, before the answer
// is written) after each message is accepted. nil removes it.
func (s *Server) OnMessage(fn func(Message)) {
	s.mu.Lock()
	s.onMessage = fn
	s.mu.Unlock()
}

var messagesPath = regexp.MustCompile(`^/2010-04-01/Accounts/([^/]+)/Messages\.json$`)

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		s.mu.Lock()
		s.requests++
		var f *fault
		if len(s.faults) > 0 {
			cp := s.faults[0]
			f = &cp
			s.faults[0].left--
			if s.faults[0].left == 0 {
				s.faults = s.faults[1:]
			}
		}
		sid, token := s.sid, s.token
		s.mu.Unlock()
		if f != nil {
			writeError(w, f.status, f.code, f.message)
			return
		}
		m := messagesPath.FindStringSubmatch(r.URL.Path)
		if m == nil {
			writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
			return
		}
		user, pass, ok := r.BasicAuth()
		if !ok || user != sid || pass != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
			writeError(w, http.StatusUnauthorized, 20003, "Authenticate")
			return
		}
		if m[1] != sid {
			writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
			return
		}
		s.createMessage(w, r, sid)
		return
	}
	if messagesPath.MatchString(r.URL.Path) {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, 20004, "Method not allowed")
		return
	}
	writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
}

func (s *Server) createMessage(w http.ResponseWriter, r *http.Request, accountSID string) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, 20001, "Could not parse request body")
		return
	}
	form := r.PostForm
	msg := Message{
		Sid:            newSid(),
		AccountSID:     accountSID,
		To:             form.Get("To"),
		From:           form.Get("From"),
		Body:           form.Get("Body"),
		StatusCallback: form.Get("StatusCallback"),
		Form:           cloneValues(form),
		ReceivedAt:     time.Now(),
	}
	switch {
	case msg.To == "":
		writeError(w, http.StatusBadRequest, 21604, "A 'To' phone number is required.")
		return
	case msg.From == "" && form.Get("MessagingServiceSid") == "":
		writeError(w, http.StatusBadRequest, 21603, "A 'From' phone number is required.")
		return
	case msg.Body == "" && form.Get("MediaUrl") == "" && form.Get("ContentSid") == "":
		writeError(w, http.StatusBadRequest, 21602, "Message body is required.")
		return
	}

	s.mu.Lock()
	s.messages = append(s.messages, msg)
	hook := s.onMessage
	s.mu.Unlock()
	if hook != nil {
		hook(msg)
	}

	date := msg.ReceivedAt.UTC().Format(time.RFC1123Z)
	uri := fmt.Sprintf("/2010-04-01/Accounts/%s/Messages/%s", accountSID, msg.Sid)
	writeJSON(w, http.StatusCreated, map[string]any{
		"account_sid":           accountSID,
		"api_version":           "2010-04-01",
		"body":                  msg.Body,
		"date_created":          date,
		"date_sent":             nil,
		"date_updated":          date,
		"direction":             "outbound-api",
		"error_code":            nil,
		"error_message":         nil,
		"from":                  msg.From,
		"messaging_service_sid": nil,
		"num_media":             "0",
		"num_segments":          strconv.Itoa(max(sms.Count(msg.Body).Segments, 1)),
		"price":                 nil,
		"price_unit":            "USD",
		"sid":                   msg.Sid,
		"status":                "queued",
		"subresource_uris":      map[string]string{"media": uri + "/Media.json"},
		"to":                    msg.To,
		"uri":                   uri + ".json",
	})
}

func writeError(w http.ResponseWriter, status, code int, message string) {
	writeJSON(w, status, map[string]any{
		"code":      code,
		"message":   message,
		"more_info": "https://www.twilio.com/docs/errors/" + strconv.Itoa(code),
		"status":    status,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(status)
	w.Write(data)
}

func newSid() string {
	var b [16]byte
	rand.Read(b[:])
	return "SM" + hex.EncodeToString(b[:])
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
