package web

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/textback/textback/internal/ids"
	"github.com/textback/textback/internal/service"
	"github.com/textback/textback/internal/store"
)

const (
	cookieName  = "textback_session"
	sessionLife = 30 * 24 * time.Hour
)

func hashSession(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// secure tells whether cookies must be Secure: the request came over TLS, or
// textback's public URL is https (TLS ends at a proxy in front of it).
func (u *UI) secure(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(u.Svc.PublicURL, "https://")
}

func (u *UI) setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: u.secure(r), SameSite: http.SameSiteLaxMode})
}

// startSession signs a member in: a new random session id in an HttpOnly cookie.
func (u *UI) startSession(w http.ResponseWriter, r *http.Request, userID, workspaceID string) error {
	id := ids.Random(32)
	s := &store.Session{IDHash: hashSession(id), UserID: userID, WorkspaceID: workspaceID, ExpiresAt: time.Now().Add(sessionLife)}
	if err := u.Svc.DB.Q().CreateSession(r.Context(), s); err != nil {
		return err
	}
	u.setCookie(w, r, id, int(sessionLife.Seconds()))
	return nil
}

// currentSession returns the signed-in member, or nil.
func (u *UI) currentSession(r *http.Request) (*reqCtx, error) {
	ck, err := r.Cookie(cookieName)
	if err != nil || ck.Value == "" {
		return nil, nil
	}
	p, err := u.Svc.DB.Q().SessionPrincipal(r.Context(), hashSession(ck.Value))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c := &reqCtx{P: p, sessionID: ck.Value}
	if err := u.loadContext(r.Context(), r, c); err != nil {
		return nil, err
	}
	return c, nil
}

// withSession sends the signed-out to the sign-in page and refuses admin
// pages to members with 403.
func (u *UI) withSession(access Access, h pageHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := u.currentSession(r)
		if err != nil {
			u.fail(w, r, err)
			return
		}
		if c == nil {
			if r.Method == http.MethodGet {
				redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()))
				return
			}
			u.errorPage(w, r, http.StatusUnauthorized, "Your session has ended: sign in again.")
			return
		}
		if access == Admin && !c.IsAdmin() {
			u.errorPage(w, r, http.StatusForbidden, "Only workspace administrators can open this page.")
			return
		}
		h(w, r, c)
	}
}

type signinData struct {
	Email, Next string
}

func (u *UI) signinForm(w http.ResponseWriter, r *http.Request) {
	if n, err := u.Svc.DB.Q().CountUsers(r.Context()); err == nil && n == 0 {
		redirect(w, r, "/setup")
		return
	}
	u.render(w, r, http.StatusOK, "signin", &page{Title: "Sign in", Data: signinData{Next: safeNext(r.URL.Query().Get("next"))}})
}

// safeNext keeps a redirect target on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/calls"
	}
	return next
}

func (u *UI) signin(w http.ResponseWriter, r *http.Request) {
	email := strings.ToLower(strings.TrimSpace(r.PostFormValue("email")))
	data := signinData{Email: email, Next: safeNext(r.PostFormValue("next"))}
	ip, _, _ := net.SplitHostPort(r.RemoteAddr)
	keys := []string{"email:" + email, "ip:" + ip}
	for _, k := range keys {
		if u.signIns.Blocked(k) {
			u.render(w, r, http.StatusTooManyRequests, "signin", &page{Title: "Sign in", Data: data,
				Error: "Too many failed sign-ins: wait 15 minutes and try again."})
			return
		}
	}
	m, err := u.Svc.CheckPassword(r.Context(), email, r.PostFormValue("password"), "")
	if errors.Is(err, service.ErrInvalidCredentials) {
		for _, k := range keys {
			u.signIns.Fail(k)
		}
		u.render(w, r, http.StatusUnauthorized, "signin", &page{Title: "Sign in", Data: data, Error: "Wrong e-mail or password."})
		return
	}
	if err != nil {
		u.fail(w, r, err)
		return
	}
	if err := u.startSession(w, r, m.UserID, m.WorkspaceID); err != nil {
		u.fail(w, r, err)
		return
	}
	redirect(w, r, data.Next)
}

func (u *UI) signout(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(cookieName); err == nil {
		_ = u.Svc.DB.Q().DeleteSession(r.Context(), hashSession(ck.Value))
	}
	u.setCookie(w, r, "", -1)
	redirect(w, r, "/signin")
}

type setupData struct {
	Name, Email, TimeZone string
}

// setupOpen reports whether the database has no user yet: only then may
// anyone create the first workspace from the browser.
func (u *UI) setupOpen(r *http.Request) (bool, error) {
	n, err := u.Svc.DB.Q().CountUsers(r.Context())
	return n == 0, err
}

func (u *UI) setupForm(w http.ResponseWriter, r *http.Request) {
	if open, err := u.setupOpen(r); err != nil || !open {
		redirect(w, r, "/signin")
		return
	}
	u.render(w, r, http.StatusOK, "setup", &page{Title: "Set up textback", Data: setupData{TimeZone: "UTC"}})
}

func (u *UI) setup(w http.ResponseWriter, r *http.Request) {
	if open, err := u.setupOpen(r); err != nil || !open {
		u.errorPage(w, r, http.StatusForbidden, "textback is already set up: sign in instead.")
		return
	}
	d := setupData{Name: r.PostFormValue("name"), Email: r.PostFormValue("email"), TimeZone: r.PostFormValue("time_zone")}
	cw, err := u.Svc.CreateWorkspace(r.Context(), service.NewWorkspace{Name: d.Name, TimeZone: d.TimeZone, AdminEmail: d.Email, AdminPassword: r.PostFormValue("password")})
	var ve *service.ValidationError
	if errors.As(err, &ve) {
		u.render(w, r, http.StatusUnprocessableEntity, "setup", &page{Title: "Set up textback", Data: d, Error: ve.Message})
		return
	}
	if err != nil {
		u.fail(w, r, err)
		return
	}
	if err := u.startSession(w, r, cw.User.ID, cw.Workspace.ID); err != nil {
		u.fail(w, r, err)
		return
	}
	redirect(w, r, "/calls/settings")
}

func (u *UI) switchWorkspace(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	if err := u.Svc.DB.Q().SwitchSessionWorkspace(r.Context(), hashSession(c.sessionID), r.PostFormValue("workspace")); err != nil {
		u.fail(w, r, err)
		return
	}
	redirect(w, r, "/calls")
}
