package web

import "net/http"

// Placeholders for the pages being written; each answers 501 until done.
func (u *UI) todo(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	u.errorPage(w, r, http.StatusNotImplemented, "This page is not built yet.")
}

func (u *UI) settings(w http.ResponseWriter, r *http.Request, c *reqCtx)         { u.todo(w, r, c) }
func (u *UI) addNumber(w http.ResponseWriter, r *http.Request, c *reqCtx)        { u.todo(w, r, c) }
func (u *UI) deleteNumber(w http.ResponseWriter, r *http.Request, c *reqCtx)     { u.todo(w, r, c) }
func (u *UI) saveTwilio(w http.ResponseWriter, r *http.Request, c *reqCtx)       { u.todo(w, r, c) }
func (u *UI) regenerateSecret(w http.ResponseWriter, r *http.Request, c *reqCtx) { u.todo(w, r, c) }
func (u *UI) billing(w http.ResponseWriter, r *http.Request, c *reqCtx)          { u.todo(w, r, c) }
func (u *UI) ledgerCSV(w http.ResponseWriter, r *http.Request, c *reqCtx)        { u.todo(w, r, c) }
func (u *UI) topUp(w http.ResponseWriter, r *http.Request, c *reqCtx)            { u.todo(w, r, c) }
func (u *UI) usage(w http.ResponseWriter, r *http.Request, c *reqCtx)            { u.todo(w, r, c) }
func (u *UI) members(w http.ResponseWriter, r *http.Request, c *reqCtx)          { u.todo(w, r, c) }
func (u *UI) addMember(w http.ResponseWriter, r *http.Request, c *reqCtx)        { u.todo(w, r, c) }
func (u *UI) keys(w http.ResponseWriter, r *http.Request, c *reqCtx)             { u.todo(w, r, c) }
func (u *UI) createKey(w http.ResponseWriter, r *http.Request, c *reqCtx)        { u.todo(w, r, c) }
func (u *UI) deleteKey(w http.ResponseWriter, r *http.Request, c *reqCtx)        { u.todo(w, r, c) }
