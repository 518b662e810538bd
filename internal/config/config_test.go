package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFlagsBeatEnvironmentAndFilesWork(t *testing.T) {
	t.Setenv("TEXTBACK_ADDR", "127.0.0.1:9999")
	secret := filepath.Join(t.TempDir(), "url")
	os.WriteFile(secret, []byte("https://tb.example.com/\n"), 0o600)
	t.Setenv("TEXTBACK_PUBLIC_URL_FILE", secret)
	c := Defaults()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.Bind(fs)
	if err := fs.Parse([]string{"--addr", "127.0.0.1:7777"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:7777" || c.PublicURL != "https://tb.example.com" {
		t.Fatalf("addr %q public url %q", c.Addr, c.PublicURL)
	}
}

func TestValidateDefaultsAndErrors(t *testing.T) {
	c := Defaults()
	if err := c.Validate(); err != nil || c.PublicURL != "http://127.0.0.1:8080" {
		t.Fatalf("defaults: %v, public url %q", err, c.PublicURL)
	}
	c = Defaults()
	c.PublicURL, c.LogLevel, c.Workers = "ftp://x", "loud", 0
	err := c.Validate()
	if err == nil {
		t.Fatal("bad settings accepted")
	}
	for _, want := range []string{"--public-url", "--log-level", "--workers"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}
