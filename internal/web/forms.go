package web

import (
	"errors"
	"html/template"
	"net/http"
	"slices"

	"github.com/textback/textback/internal/service"
)

// formError is a refused form's message, shown next to the field it is
// about (Field is the input's name, as the service names it).
type formError struct {
	Form    string // which form of the page was refused
	Field   string
	Message string
}

// In tells whether the error belongs to the named form of the page.
func (e formError) In(form string) bool { return e.Message != "" && e.Form == form }

// Attr marks the field invalid and points it at its message.
func (e formError) Attr(form, field string) template.HTMLAttr {
	if e.In(form) && e.Field == field {
		return ` aria-invalid="true" aria-describedby="error"`
	}
	return ""
}

// Show is the message, when it is about this field of this form. The
// template escapes nothing here, so the message is escaped first.
func (e formError) Show(form, field string) template.HTML {
	if !e.In(form) || e.Field != field {
		return ""
	}
	return template.HTML(`<p class="error field-error" role="alert" id="error">` + template.HTMLEscapeString(e.Message) + `</p>`)
}

// formSpec names a form and the fields it shows a message beside; a
// message about any other field is shown at the top of the form (Field "").
type formSpec struct {
	Name   string
	Fields []string
}

func (f formSpec) err(field, msg string) formError {
	if !slices.Contains(f.Fields, field) {
		field = ""
	}
	return formError{Form: f.Name, Field: field, Message: msg}
}

// refused turns a service error into a message for the form, or false when
// it is not the member's input that was wrong (the page then fails). A
// conflict gets the form's own message, beside conflictField.
func (f formSpec) refused(err error, conflictField, conflict string) (int, formError, bool) {
	var ve *service.ValidationError
	switch {
	case errors.As(err, &ve):
		return http.StatusUnprocessableEntity, f.err(ve.Field, ve.Message), true
	case conflict != "" && errors.Is(err, service.ErrConflict):
		return http.StatusConflict, f.err(conflictField, conflict), true
	}
	return 0, formError{}, false
}
