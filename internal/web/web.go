// Package web is textback's browser UI: server-rendered html/template pages
// with embedded assets and a little plain JavaScript, no CDN. Pages follow
// the seed article: Calls (Call log, Autoresponder, Settings) and Account
// (Payment and billing, Usage, Members, API keys).
package web

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/textback/textback/internal/auth"
	"github.com/textback/textback/internal/service"
	"github.com/textback/textback/internal/store"
)

//go:embed templates static
var assets embed.FS

// Access says who may open a page; every route states it in Routes().
type Access int

const (
	Public Access = iota // signed out too (sign-in, setup, assets)
	Member               // any signed-in member
	Admin                // administrators only: 403 for members
)

func (a Access) String() string { return [...]string{"public", "member", "admin"}[a] }

// Route is one line of the UI's route table.
type Route struct {
	Method, Pattern string
	Access          Access
	handler         any // http.HandlerFunc or pageHandler
}

type pageHandler func(w http.ResponseWriter, r *http.Request, c *reqCtx)

// UI serves the pages.
type UI struct {
	Svc  *service.Service
	Log  *slog.Logger
	Demo bool
	// Webhooks serves the webhook routes in-process: the demo's "Simulate a
	// missed call" posts a signed event through it, the path a carrier takes.
	Webhooks http.Handler

	signIns *auth.Limiter
	pages   map[string]*template.Template
}

// Routes is the UI's route table.
func (u *UI) Routes() []Route {
	return []Route{
		{"GET", "/static/", Public, http.HandlerFunc(u.static)},
		{"GET", "/{$}", Public, http.HandlerFunc(u.home)},
		{"GET", "/setup", Public, http.HandlerFunc(u.setupForm)},
		{"POST", "/setup", Public, http.HandlerFunc(u.setup)},
		{"GET", "/signin", Public, http.HandlerFunc(u.signinForm)},
		{"POST", "/signin", Public, http.HandlerFunc(u.signin)},
		{"POST", "/signout", Public, http.HandlerFunc(u.signout)},

		{"POST", "/workspace", Member, pageHandler(u.switchWorkspace)},
		{"GET", "/calls", Member, pageHandler(u.callLog)},
		{"GET", "/calls/autoresponder", Member, pageHandler(u.autoresponder)},
		{"POST", "/calls/autoresponder/message", Member, pageHandler(u.saveMessage)},
		{"POST", "/calls/autoresponder/enabled", Member, pageHandler(u.saveEnabled)},
		{"POST", "/calls/autoresponder/preview", Member, pageHandler(u.preview)},
		{"POST", "/calls/simulate", Member, pageHandler(u.simulateCall)},
		{"GET", "/calls/settings", Admin, pageHandler(u.settings)},
		{"POST", "/calls/settings/numbers", Admin, pageHandler(u.addNumber)},
		{"POST", "/calls/settings/numbers/{id}/delete", Admin, pageHandler(u.deleteNumber)},
		{"POST", "/calls/settings/twilio", Admin, pageHandler(u.saveTwilio)},
		{"POST", "/calls/settings/smpp", Admin, pageHandler(u.saveSMPP)},
		{"POST", "/calls/settings/kannel", Admin, pageHandler(u.saveKannel)},
		{"POST", "/calls/settings/webhook-secret", Admin, pageHandler(u.regenerateSecret)},
		{"GET", "/billing", Member, pageHandler(u.billing)},
		{"GET", "/billing/ledger.csv", Member, pageHandler(u.ledgerCSV)},
		{"POST", "/billing/top-ups", Admin, pageHandler(u.topUp)},
		{"GET", "/usage", Member, pageHandler(u.usage)},
		{"GET", "/members", Admin, pageHandler(u.members)},
		{"POST", "/members", Admin, pageHandler(u.addMember)},
		{"GET", "/account/keys", Member, pageHandler(u.keys)},
		{"POST", "/account/keys", Member, pageHandler(u.createKey)},
		{"POST", "/account/keys/{id}/delete", Member, pageHandler(u.deleteKey)},
	}
}

// Handler returns the UI with cross-origin protection on every route.
func (u *UI) Handler() (http.Handler, error) {
	if err := u.parse(); err != nil {
		return nil, err
	}
	if u.signIns == nil {
		u.signIns = auth.NewLimiter(10, 15*time.Minute, time.Now)
	}
	mux := http.NewServeMux()
	for _, rt := range u.Routes() {
		var h http.HandlerFunc
		switch fn := rt.handler.(type) {
		case pageHandler:
			h = u.withSession(rt.Access, fn)
		case http.HandlerFunc:
			h = fn
		default:
			return nil, fmt.Errorf("route %s has no handler", rt.Pattern)
		}
		mux.HandleFunc(rt.Method+" "+rt.Pattern, h)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		u.errorPage(w, r, http.StatusNotFound, "This page does not exist.")
	})
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.errorPage(w, r, http.StatusForbidden, "This form was sent from another site and was refused.")
	}))
	return cop.Handler(mux), nil
}

func (u *UI) parse() error {
	funcs := template.FuncMap{
		"outcome":    outcomeText,
		"outcomeCSS": outcomeClass,
		"localTime":  localTime,
		"duration":   durationText,
		"deref":      func(s *string) string { return derefStr(s) },
		"add":        func(a, b int) int { return a + b },
		"percent": func(a, b int) int {
			if b <= 0 {
				return 100
			}
			return min(100, a*100/b)
		},
	}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html")
	if err != nil {
		return err
	}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return err
	}
	u.pages = map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(assets, n)
		if err != nil {
			return err
		}
		u.pages[name] = t
	}
	return nil
}

// reqCtx is the signed-in member and what every page shows around it.
type reqCtx struct {
	P          *store.Principal
	WS         *store.Workspace
	Sites      []store.Site
	Site       *store.Site // the selected site (?site=), the first by default
	Workspaces []workspaceChoice
	sessionID  string
}

type workspaceChoice struct {
	ID, Name string
	Current  bool
}

// IsAdmin is used by templates.
func (c *reqCtx) IsAdmin() bool { return c.P.Role == auth.RoleAdmin }

// page is what every template receives.
type page struct {
	Title   string
	Section string // calls, billing, usage, members, keys
	Tab     string // log, autoresponder, settings
	C       *reqCtx
	Demo    bool
	Flash   string
	Error   string
	Data    any
}

// SiteQuery is "?site=ID" for links that keep the selected site.
func (p *page) SiteQuery() string {
	if p.C == nil || p.C.Site == nil || len(p.C.Sites) < 2 {
		return ""
	}
	return "?site=" + url.QueryEscape(p.C.Site.ID)
}

func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	t, ok := u.pages[name]
	if !ok {
		u.Log.Error("no such template", "name", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if p.Flash == "" {
		p.Flash = flashes[r.URL.Query().Get("saved")]
	}
	p.Demo = u.Demo
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		u.Log.Error("error rendering page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	buf.WriteTo(w)
}

func (u *UI) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	c, _ := u.currentSession(r)
	u.render(w, r, status, "error", &page{Title: http.StatusText(status), C: c, Error: msg})
}

// fail shows a service error: validation and not-found to the user, the rest logged.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ve *service.ValidationError
	switch {
	case errors.As(err, &ve):
		u.errorPage(w, r, http.StatusUnprocessableEntity, ve.Message)
	case errors.Is(err, store.ErrNotFound):
		u.errorPage(w, r, http.StatusNotFound, "This page does not exist in this workspace.")
	default:
		u.Log.Error("page failed", "path", r.URL.Path, "err", err)
		u.errorPage(w, r, http.StatusInternalServerError, "Something went wrong on our side; it has been logged.")
	}
}

// flashes are the confirmations a redirect after a form post shows
// (?saved=code): fixed texts, so a link cannot make the page say anything else.
var flashes = map[string]string{
	"message":   "Message saved.",
	"on":        "Autoresponder switched on.",
	"off":       "Autoresponder switched off.",
	"simulated": "Simulated a missed call: see it at the top of the log.",

	"number":         "Tracking number added.",
	"number-removed": "Tracking number removed.",
	"twilio":         "Twilio account saved.",
	"smpp":           "SMPP account saved: textback binds to the SMSC with it now.",
	"kannel":         "Kannel gateway saved.",
	"secret":         "New signing secret and bearer token generated: give them to your PBX now, the old ones no longer work.",
	"topup":          "Credits added.",
	"member":         "Member added.",
	"key-revoked":    "API key revoked: programs using it no longer get in.",
}

// redirect answers a form post with 303 to target (a path of ours).
func redirect(w http.ResponseWriter, r *http.Request, target string) {
	http.Redirect(w, r, target, http.StatusSeeOther)
}

func (u *UI) static(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=3600")
	http.ServeFileFS(w, r, assets, strings.TrimPrefix(r.URL.Path, "/"))
}

func (u *UI) home(w http.ResponseWriter, r *http.Request) {
	if n, err := u.Svc.DB.Q().CountUsers(r.Context()); err == nil && n == 0 {
		redirect(w, r, "/setup")
		return
	}
	redirect(w, r, "/calls")
}

// loadContext fills the workspace, its sites and the selected site.
func (u *UI) loadContext(ctx context.Context, r *http.Request, c *reqCtx) error {
	q := u.Svc.DB.Q()
	var err error
	if c.WS, err = q.GetWorkspace(ctx, c.P.WorkspaceID); err != nil {
		return err
	}
	if c.Sites, err = q.ListSites(ctx, c.WS.ID); err != nil {
		return err
	}
	want := r.URL.Query().Get("site")
	if want == "" {
		want = r.PostFormValue("site")
	}
	for i := range c.Sites {
		if c.Sites[i].ID == want || (c.Site == nil && want == "") {
			c.Site = &c.Sites[i]
		}
	}
	if c.Site == nil && len(c.Sites) > 0 {
		c.Site = &c.Sites[0]
	}
	ms, err := q.Memberships(ctx, c.P.UserID)
	if err != nil {
		return err
	}
	if len(ms) > 1 {
		for _, m := range ms {
			ws, err := q.GetWorkspace(ctx, m.WorkspaceID)
			if err != nil {
				return err
			}
			c.Workspaces = append(c.Workspaces, workspaceChoice{ws.ID, ws.Name, ws.ID == c.WS.ID})
		}
	}
	return nil
}

func derefStr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
