package sms

import "strings"

// Opt-out and opt-in keywords, matched case-insensitively against the whole
// message (carriers and Twilio use the same list).
var (
	optOutWords = map[string]bool{"STOP": true, "STOPALL": true, "UNSUBSCRIBE": true, "CANCEL": true,
		"END": true, "QUIT": true, "REVOKE": true, "OPTOUT": true}
	optInWords = map[string]bool{"START": true, "UNSTOP": true}
)

// Keyword classifies an inbound SMS: "stop" for an opt-out, "start" for an
// opt-in, "" for anything else. "Stop." with punctuation is not a keyword:
// only the whole message counts.
func Keyword(body string) string {
	w := strings.ToUpper(strings.TrimSpace(body))
	switch {
	case optOutWords[w]:
		return "stop"
	case optInWords[w]:
		return "start"
	}
	return ""
}
