package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/textback/textback/internal/app"
	"github.com/textback/textback/internal/auth"
	"github.com/textback/textback/internal/config"
	"github.com/textback/textback/internal/providers/smpp"
	"github.com/textback/textback/internal/service"
)

const (
	trackingNumber = "+18005550100" // the number SIPp dials (sip-case.sh's 18005550100)
	autoreplyText  = "Sorry we missed your call. We will call you back within the hour."
)

// textback is a whole textback on a loopback port that the peers reach:
// its public URL is its real address.
type textback struct {
	t      *testing.T
	app    *app.App
	url    string
	key    string
	wsID   string
	siteID string
}

func TestMain(m *testing.M) {
	auth.BcryptCost = bcrypt.MinCost
	os.Exit(m.Run())
}

func startTextback(t *testing.T) *textback {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tb := &textback{t: t, url: "http://" + ln.Addr().String()}
	dir := t.TempDir()
	cfg := config.Defaults()
	cfg.DatabaseURL = "sqlite:" + filepath.Join(dir, "textback.db")
	cfg.PublicURL = tb.url
	cfg.PollInterval = 20 * time.Millisecond
	cfg.RetryBase = 250 * time.Millisecond
	cfg.MaxAttempts = 12
	logFile, err := os.Create(filepath.Join(dir, "textback.log"))
	if err != nil {
		t.Fatal(err)
	}
	tailOnFailure(t, logFile.Name())
	log := slog.New(slog.NewJSONHandler(logFile, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := context.Background()
	a, err := app.Open(ctx, cfg, log)
	if err != nil {
		t.Fatalf("opening textback: %v", err)
	}
	// Reconnect fast, so that a restarted SMSC is bound again within half a second.
	a.Svc.Providers.Carriers.Options = smpp.Options{ReconnectMin: 100 * time.Millisecond, ReconnectMax: 500 * time.Millisecond, BindWait: 2 * time.Second}
	if err := a.Start(ctx); err != nil {
		t.Fatalf("starting textback: %v", err)
	}
	srv := &http.Server{Handler: a.Handler, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() {
		_ = srv.Close()
		stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Stop(stop)
		logFile.Close()
	})
	tb.app = a
	cw, err := a.Svc.CreateWorkspace(ctx, service.NewWorkspace{Name: "Integration Clinic", TimeZone: "America/New_York",
		AdminEmail: "admin@integration.test", AdminPassword: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	tb.key, tb.wsID, tb.siteID = cw.APIKey, cw.Workspace.ID, cw.Site.ID
	return tb
}

// api calls the JSON API as the workspace's admin and decodes the answer.
func (tb *textback) api(method, path string, body any, wantStatus int) map[string]any {
	tb.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, tb.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+tb.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		tb.t.Fatalf("%s %s = %d %s, want %d", method, path, resp.StatusCode, b, wantStatus)
	}
	var out map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			tb.t.Fatalf("%s %s: not JSON: %s", method, path, b)
		}
	}
	return out
}

// setUp adds the tracking number (calls from a PBX, replies through
// smsProvider), saves the message, switches the autoresponder on and buys
// credits.
func (tb *textback) setUp(smsProvider string) {
	tb.api("POST", "/api/v1/sites/"+tb.siteID+"/tracking-numbers", map[string]any{"number": trackingNumber, "provider": "generic", "sms_provider": smsProvider}, 201)
	tb.api("PUT", "/api/v1/sites/"+tb.siteID+"/autoresponder/message", map[string]string{"message": autoreplyText}, 200)
	tb.api("PUT", "/api/v1/sites/"+tb.siteID+"/autoresponder/enabled", map[string]bool{"enabled": true}, 200)
	tb.api("POST", "/api/v1/credits/top-ups", map[string]any{"credits": 400, "reference": "integration"}, 201)
}

// webhooks returns GET /api/v1/webhooks.
func (tb *textback) webhooks() (eventsURL, bearer, kannelMO string) {
	w := tb.api("GET", "/api/v1/webhooks", nil, 200)
	g, k := w["generic"].(map[string]any), w["kannel"].(map[string]any)
	return g["call_events_url"].(string), g["bearer_token"].(string), k["mo_url"].(string)
}

// callsFrom lists the calls from a caller, oldest first.
func (tb *textback) callsFrom(caller string) []map[string]any {
	tb.t.Helper()
	var out []map[string]any
	for _, c := range tb.api("GET", "/api/v1/calls?limit=500", nil, 200)["calls"].([]any) {
		if m := c.(map[string]any); m["caller"] == caller {
			out = append(out, m)
		}
	}
	at := func(c map[string]any) time.Time {
		t, _ := time.Parse(time.RFC3339Nano, c["started_at"].(string))
		return t
	}
	sort.SliceStable(out, func(i, j int) bool { return at(out[i]).Before(at(out[j])) })
	return out
}

// autoreply is the autoreply of the caller's n-th call (nil when none yet).
func (tb *textback) autoreply(caller string, n int) map[string]any {
	cs := tb.callsFrom(caller)
	if len(cs) <= n {
		return nil
	}
	ar, _ := cs[n]["autoreply"].(map[string]any)
	return ar
}

// message returns one message from GET /api/v1/messages.
func (tb *textback) message(id string) map[string]any {
	tb.t.Helper()
	for _, m := range tb.api("GET", "/api/v1/messages?limit=500", nil, 200)["messages"].([]any) {
		if mm := m.(map[string]any); mm["id"] == id {
			return mm
		}
	}
	tb.t.Fatalf("message %s is not listed", id)
	return nil
}

// send queues a standard SMS and returns its id.
func (tb *textback) send(to, body string) string {
	tb.t.Helper()
	return tb.api("POST", "/api/v1/messages", map[string]string{"site_id": tb.siteID, "to": to, "body": body}, 202)["id"].(string)
}

// optedOut reports whether the number texted STOP.
func (tb *textback) optedOut(number string) bool {
	out, err := tb.app.DB.Q().IsOptedOut(context.Background(), tb.wsID, number)
	if err != nil {
		tb.t.Fatal(err)
	}
	return out
}

// waitStatus waits until the message reaches status.
func (tb *textback) waitStatus(id, status string, within time.Duration) map[string]any {
	tb.t.Helper()
	var m map[string]any
	waitFor(tb.t, within, "message "+id+" to be "+status, func() bool {
		m = tb.message(id)
		return m["status"] == status
	})
	return m
}
