package web

import (
	"net/http"
	"strings"

	"github.com/textback/textback/internal/auth"
	"github.com/textback/textback/internal/store"
)

// Account → Members (administrators): who belongs to the workspace, and
// adding people with a role.

var memberForm = formSpec{"member", []string{"email", "role", "password"}}

type memberInput struct{ Email, Role string }

type membersData struct {
	Members []store.Member
	Roles   []string
	Add     memberInput
	Err     formError
}

func (u *UI) membersData(r *http.Request, c *reqCtx) (*membersData, error) {
	ms, err := u.Svc.DB.Q().ListMembers(r.Context(), c.WS.ID)
	if err != nil {
		return nil, err
	}
	return &membersData{Members: ms, Roles: []string{auth.RoleAdmin, auth.RoleMember}, Add: memberInput{Role: auth.RoleMember}}, nil
}

func (u *UI) renderMembers(w http.ResponseWriter, r *http.Request, c *reqCtx, status int, d *membersData) {
	u.render(w, r, status, "members", &page{Title: "Members", Section: "members", C: c, Data: d})
}

func (u *UI) members(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	d, err := u.membersData(r, c)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.renderMembers(w, r, c, http.StatusOK, d)
}

func (u *UI) addMember(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	in := memberInput{Email: strings.TrimSpace(r.PostFormValue("email")), Role: r.PostFormValue("role")}
	_, err := u.Svc.AddMember(r.Context(), c.WS.ID, in.Email, in.Role, r.PostFormValue("password"))
	if err == nil {
		redirect(w, r, "/members?saved=member")
		return
	}
	status, fe, ok := memberForm.refused(err, "email", "“"+in.Email+"” is already a member of this workspace.")
	if !ok {
		u.fail(w, r, err)
		return
	}
	d, derr := u.membersData(r, c)
	if derr != nil {
		u.fail(w, r, derr)
		return
	}
	d.Add, d.Err = in, fe // the password is never sent back
	u.renderMembers(w, r, c, status, d)
}
