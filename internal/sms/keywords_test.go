package sms

import "testing"

func TestKeyword(t *testing.T) {
	cases := map[string]string{
		"STOP": "stop", "stop": "stop", " Stop \n": "stop", "StopAll": "stop", "unsubscribe": "stop",
		"CANCEL": "stop", "end": "stop", "quit": "stop", "revoke": "stop", "optout": "stop",
		"START": "start", "unstop": "start",
		"please stop": "", "stop it": "", "": "", "STOP!": "",
	}
	for in, want := range cases {
		if got := Keyword(in); got != want {
			t.Errorf("Keyword(%q) = %q, want %q", in, got, want)
		}
	}
}
