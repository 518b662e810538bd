package sms

import (
	"strings"
	"testing"
)

var benchSink Info

func BenchmarkCountGSM(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		benchSink = Count(seedMessage)
	}
}

func BenchmarkCountUCS2(b *testing.B) {
	body := "Hello, we missed your call 😀 We will call you back within the hour."
	b.ReportAllocs()
	for b.Loop() {
		benchSink = Count(body)
	}
}

func BenchmarkCountLong(b *testing.B) {
	body := strings.Repeat("Call back soon! ", 38)[:600] // 600 GSM-7 characters
	if n := len(body); n != 600 {
		b.Fatalf("body is %d characters, want 600", n)
	}
	b.ReportAllocs()
	for b.Loop() {
		benchSink = Count(body)
	}
}
