package web

import (
	"fmt"
	"time"

	"github.com/textback/textback/internal/autoresponder"
	"github.com/textback/textback/internal/store"
)

// skipWords say in words why no SMS went out.
var skipWords = map[string]string{
	autoresponder.ReasonOff:                 "the autoresponder was off",
	autoresponder.ReasonNoMessage:           "no message was saved",
	autoresponder.ReasonInsufficientCredits: "not enough credits",
	autoresponder.ReasonCallerWithheld:      "the caller's number was withheld",
	autoresponder.ReasonInvalidCaller:       "the caller's number is not valid",
	autoresponder.ReasonOptedOut:            "the caller opted out",
	autoresponder.ReasonUnknownNumber:       "the number called is not a tracking number",
}

// outcomeText is a call's autoreply outcome as the call log shows it.
func outcomeText(a *store.Autoreply) string {
	if a == nil {
		return ""
	}
	if a.Decision != "sent" {
		if w, ok := skipWords[derefStr(a.Reason)]; ok {
			return "Not sent: " + w
		}
		return "Not sent: " + derefStr(a.Reason)
	}
	switch a.MessageStatus {
	case "queued", "sending":
		return "Sending…"
	case "sent":
		return "SMS sent"
	case "delivered":
		return "Delivered"
	case "undelivered", "failed":
		if e := derefStr(a.MessageError); e != "" {
			return "Failed: " + e
		}
		return "Failed"
	}
	return "SMS sent"
}

// outcomeClass colours the outcome.
func outcomeClass(a *store.Autoreply) string {
	switch {
	case a == nil:
		return ""
	case a.Decision != "sent":
		return "skipped"
	case a.MessageStatus == "failed" || a.MessageStatus == "undelivered":
		return "failed"
	}
	return "sent"
}

func localTime(t time.Time, ws *store.Workspace) string {
	return t.In(ws.Location()).Format("2 Jan 2006 15:04")
}

func durationText(d *int) string {
	if d == nil {
		return ""
	}
	if *d < 60 {
		return fmt.Sprintf("%ds", *d)
	}
	return fmt.Sprintf("%dm %02ds", *d/60, *d%60)
}
