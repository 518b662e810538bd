package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/textback/textback/internal/apptest"
	"github.com/textback/textback/internal/providers/generic"
)

func TestFiftyMissedCallsWithCreditsForThirty(t *testing.T) {
	e := apptest.New(t)
	e.AddTrackingNumber(trackingNumber, businessLine)
	e.Configure(seedMessage, true, 120)

	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.GenericPost(generic.Event{CallID: fmt.Sprintf("pbx-%02d", i), From: fmt.Sprintf("+141555502%02d", i), To: trackingNumber,
				Status: "missed", OccurredAt: time.Now().UTC().Format(time.RFC3339)})
			if r.Status != http.StatusAccepted {
				t.Errorf("call %d: %d %s", i, r.Status, r.Body)
			}
		}()
	}
	wg.Wait()
	e.Settle()

	reasons := map[string]int{}
	for _, c := range e.Calls() {
		ar := c["autoreply"].(map[string]any)
		reasons[fmt.Sprint(ar["status"], "/", ar["reason"])]++
	}
	if reasons["sent/<nil>"] != 30 || reasons["skipped/insufficient_credits"] != 20 || len(reasons) != 2 {
		t.Fatalf("outcomes %v, want 30 sent and 20 insufficient_credits", reasons)
	}
	if n := len(e.Twilio.Messages()); n != 30 {
		t.Fatalf("%d SMS reached the provider, want 30", n)
	}
	if b := e.Balance(); b != 0 { // Balance also checks ledger sum == balance
		t.Fatalf("balance %d, want 0", b)
	}
}

func TestUsageCountsStandardSMSAgainstTheLimitAndAutorepliesNot(t *testing.T) {
	e := ready(t)
	for i := 0; i < 2; i++ {
		e.TwilioPost(e.TwilioPath("dial-status"), callForm(fmt.Sprintf("CA10%d", i), fmt.Sprintf("+1415555013%d", i), "DialCallStatus", "no-answer"))
	}
	// A limit of 3 standard SMS this month.
	if _, err := e.App.DB.SQL.ExecContext(context.Background(), `UPDATE workspaces SET monthly_sms_limit = 3 WHERE id = $1`, e.Workspace.ID); err != nil {
		t.Fatal(err)
	}
	send := func() *apptest.Response {
		return e.API("POST", "/api/v1/messages", e.AdminKey, map[string]string{"site_id": e.SiteID, "to": caller, "body": "Your order is ready."})
	}
	for i := 0; i < 3; i++ {
		if r := send(); r.Status != http.StatusAccepted {
			t.Fatalf("standard SMS %d: %d %s", i, r.Status, r.Body)
		}
	}
	before := e.Balance()
	r := send()
	if r.Status != http.StatusTooManyRequests || r.ErrorCode() != "monthly_limit_reached" {
		t.Fatalf("4th standard SMS: %d %s, want 429 monthly_limit_reached", r.Status, r.Body)
	}
	if b := e.Balance(); b != before {
		t.Fatalf("the refused SMS moved the balance from %d to %d", before, b)
	}
	// Autoreplies still go out past the limit: they only cost credits.
	e.TwilioPost(e.TwilioPath("dial-status"), callForm("CA109", "+14155550139", "DialCallStatus", "no-answer"))
	e.Settle()

	u := e.API("GET", "/api/v1/usage", e.AdminKey, nil).JSON(t)
	want := map[string]any{"standard_sms_sent": 3.0, "standard_sms_limit": 3.0, "autoreply_sms_sent": 3.0, "credits_used": 24.0}
	for k, v := range want {
		if u[k] != v {
			t.Errorf("usage %s = %v, want %v (%v)", k, u[k], v, u)
		}
	}
	if len(e.Twilio.Messages()) != 6 || e.Balance() != 100-24 {
		t.Fatalf("%d SMS and balance %d, want 6 and 76", len(e.Twilio.Messages()), e.Balance())
	}
	msgs := e.API("GET", "/api/v1/messages?kind=standard", e.AdminKey, nil).JSON(t)["messages"].([]any)
	if len(msgs) != 3 {
		t.Fatalf("%d standard messages listed, want 3", len(msgs))
	}
}
