package web

import (
	"encoding/csv"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/textback/textback/internal/sms"
	"github.com/textback/textback/internal/store"
)

// Account → Payment and billing: the balance, the credit ledger (also as
// CSV) and, for administrators, top-ups.

const ledgerRows = 200

var topUpForm = formSpec{"topup", []string{"credits", "reference"}}

// reasonWords name the ledger's reasons.
var reasonWords = map[string]string{
	store.ReasonTopUp:       "Top-up",
	store.ReasonAutoreply:   "Autoreply",
	store.ReasonStandardSMS: "Standard SMS",
	store.ReasonRefund:      "Refund",
	store.ReasonAdjustment:  "Adjustment",
}

func reasonText(reason string) string {
	if w, ok := reasonWords[reason]; ok {
		return w
	}
	return reason
}

// ledgerRow is one ledger entry as the page shows it.
type ledgerRow struct {
	store.LedgerEntry
	When, Change, Reason string
	Credit               bool
}

type topUpInput struct{ Credits, Reference string }

type billingData struct {
	Balance int
	Low     bool // below the cost of one SMS: autoreplies stop
	Cost    int
	Ledger  []ledgerRow
	More    bool // the ledger has more entries than shown
	TopUp   topUpInput
	Err     formError
}

// signed is a change of balance with its sign: +100, −4 (a real minus).
func signed(n int) string {
	if n < 0 {
		return "−" + strconv.Itoa(-n)
	}
	return "+" + strconv.Itoa(n)
}

func (u *UI) billingData(r *http.Request, c *reqCtx) (*billingData, error) {
	q := u.Svc.DB.Q()
	bal, err := q.Balance(r.Context(), c.WS.ID)
	if err != nil {
		return nil, err
	}
	entries, err := q.ListLedger(r.Context(), c.WS.ID, ledgerRows+1)
	if err != nil {
		return nil, err
	}
	d := &billingData{Balance: bal, Low: bal < sms.CreditsPerSMS, Cost: sms.CreditsPerSMS, More: len(entries) > ledgerRows}
	for _, e := range entries[:min(len(entries), ledgerRows)] {
		d.Ledger = append(d.Ledger, ledgerRow{LedgerEntry: e, When: localTime(e.CreatedAt, c.WS),
			Change: signed(e.Delta), Reason: reasonText(e.Reason), Credit: e.Delta > 0})
	}
	return d, nil
}

func (u *UI) renderBilling(w http.ResponseWriter, r *http.Request, c *reqCtx, status int, d *billingData) {
	u.render(w, r, status, "billing", &page{Title: "Payment and billing", Section: "billing", C: c, Data: d})
}

func (u *UI) billing(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	d, err := u.billingData(r, c)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.renderBilling(w, r, c, http.StatusOK, d)
}

func (u *UI) topUp(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	in := topUpInput{Credits: strings.TrimSpace(r.PostFormValue("credits")), Reference: r.PostFormValue("reference")}
	credits, perr := strconv.Atoi(strings.ReplaceAll(in.Credits, ",", ""))
	if perr != nil {
		credits = 0 // not a whole number: the service says what is allowed
	}
	_, err := u.Svc.TopUp(r.Context(), c.WS.ID, credits, in.Reference)
	if err == nil {
		redirect(w, r, "/billing?saved=topup")
		return
	}
	status, fe, ok := topUpForm.refused(err, "reference", "A top-up with this reference was already recorded.")
	if !ok {
		u.fail(w, r, err)
		return
	}
	d, derr := u.billingData(r, c)
	if derr != nil {
		u.fail(w, r, derr)
		return
	}
	d.TopUp, d.Err = in, fe
	u.renderBilling(w, r, c, status, d)
}

// csvCell defuses a cell a spreadsheet would run as a formula.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// ledgerCSV exports the whole ledger, newest first, dates in the
// workspace's time zone (RFC 3339, with its offset).
func (u *UI) ledgerCSV(w http.ResponseWriter, r *http.Request, c *reqCtx) {
	entries, err := u.Svc.DB.Q().ListLedger(r.Context(), c.WS.ID, math.MaxInt32)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	loc := c.WS.Location()
	name := "textback-ledger-" + time.Now().In(loc).Format("2006-01-02") + ".csv"
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Cache-Control", "no-store")
	cw := csv.NewWriter(w)
	cw.Write([]string{"date", "change", "reason", "reference", "call_id", "message_id", "balance_after"})
	for _, e := range entries {
		// change and balance_after are numbers, so they are written as they are.
		cw.Write([]string{e.CreatedAt.In(loc).Format(time.RFC3339), strconv.Itoa(e.Delta), csvCell(reasonText(e.Reason)),
			csvCell(e.Reference), csvCell(derefStr(e.CallID)), csvCell(derefStr(e.MessageID)), strconv.Itoa(e.BalanceAfter)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		u.Log.Warn("ledger export cut short", "workspace", c.WS.ID, "err", err)
	}
}
