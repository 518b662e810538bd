package web

import (
	"net/http"

	"github.com/textback/textback/internal/store"
)

// Account → API keys: each member manages their own keys, which act with
// the member's role. A new key is shown once, in the answer to its POST.

var keyForm = formSpec{"key", []string{"name"}}

type keysData struct {
	Keys    []store.APIKey
	Name    string
	NewKey  string // the key just created: shown once, never stored
	NewName string
	Err     formError
}

func (u *UI) keysData(r *http.Request, c *reqCtx) (*keysData, error) {
	ks, err := u.Svc.DB.Q().ListAPIKeys(r.Context(), c.WS.ID, c.P.UserID)
	if err != nil {
		return nil, err
	}
	return &keysData{Keys: ks}, nil
}

func (u *UI) renderKeys(w http.ResponseWriter, r *http.Request, c *reqCtx, status int, d *keysData) {
	u.render(w, r, status, "keys", &page{Title: "API keys", Section: "keys", C: c, Data: d})
}

func (u *UI) keys(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	d, err := u.keysData(r, c)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.renderKeys(w, r, c, http.StatusOK, d)
}

func (u *UI) createKey(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	name := r.PostFormValue("name")
	k, key, err := u.Svc.CreateAPIKey(r.Context(), c.P, name)
	status, fe, refusedInput := keyForm.refused(err, "", "")
	if err != nil && !refusedInput {
		u.fail(w, r, err)
		return
	}
	d, derr := u.keysData(r, c)
	if derr != nil {
		u.fail(w, r, derr)
		return
	}
	if refusedInput {
		d.Name, d.Err = name, fe
		u.renderKeys(w, r, c, status, d)
		return
	}
	// The answer itself carries the key: no redirect, so it is in no URL,
	// cookie or history entry, and the page is not cached (no-store).
	d.NewKey, d.NewName = key, k.Name
	u.renderKeys(w, r, c, http.StatusCreated, d)
}

func (u *UI) deleteKey(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	// Scoped to the member: another member's key is not found.
	if err := u.Svc.DB.Q().DeleteAPIKey(r.Context(), c.WS.ID, c.P.UserID, r.PathValue("id")); err != nil {
		u.fail(w, r, err)
		return
	}
	redirect(w, r, "/account/keys?saved=key-revoked")
}
