package web

import (
	"net/http"
	"time"

	"github.com/textback/textback/internal/service"
	"github.com/textback/textback/internal/sms"
)

// Account → Usage: this month's SMS in the workspace's time zone.

type usageData struct {
	*service.Usage
	MonthName string // December 2026
	Cost      int
}

func (u *UI) usage(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	us, err := u.Svc.Usage(r.Context(), c.WS)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	d := usageData{Usage: us, MonthName: us.Month, Cost: sms.CreditsPerSMS}
	if m, err := time.Parse("2006-01", us.Month); err == nil {
		d.MonthName = m.Format("January 2006")
	}
	u.render(w, r, http.StatusOK, "usage", &page{Title: "Usage", Section: "usage", C: c, Data: d})
}
