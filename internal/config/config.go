// Package config reads textback's settings from flags and TEXTBACK_*
// environment variables (a flag wins over the environment).
package config

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// Config is every setting of `textback serve`.
type Config struct {
	Addr         string
	DatabaseURL  string
	PublicURL    string
	TwilioAPIURL string
	Demo         bool
	LogLevel     string
	Workers      int
	PollInterval time.Duration
	RetryBase    time.Duration
	MaxAttempts  int
	JobTimeout   time.Duration
	RescueAfter  time.Duration
}

// Defaults are the settings with nothing given.
func Defaults() Config {
	return Config{
		Addr:         "127.0.0.1:8080",
		DatabaseURL:  "sqlite:textback.db",
		TwilioAPIURL: "https://api.twilio.com",
		LogLevel:     "info",
		Workers:      10,
		PollInterval: 50 * time.Millisecond,
		RetryBase:    2 * time.Second,
		MaxAttempts:  10,
		JobTimeout:   30 * time.Second,
		RescueAfter:  time.Minute,
	}
}

// Bind registers the flags on fs, with defaults taken from the environment.
func (c *Config) Bind(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", env("TEXTBACK_ADDR", c.Addr), "address to listen on (TEXTBACK_ADDR)")
	fs.StringVar(&c.DatabaseURL, "database-url", env("TEXTBACK_DATABASE_URL", c.DatabaseURL), "sqlite:PATH or postgres://... (TEXTBACK_DATABASE_URL)")
	fs.StringVar(&c.PublicURL, "public-url", env("TEXTBACK_PUBLIC_URL", c.PublicURL), "the address providers reach textback at, used in webhook URLs and signature checks (TEXTBACK_PUBLIC_URL; default http://ADDR)")
	fs.StringVar(&c.TwilioAPIURL, "twilio-api-url", env("TEXTBACK_TWILIO_API_URL", c.TwilioAPIURL), "base URL of Twilio's REST API (TEXTBACK_TWILIO_API_URL)")
	fs.BoolVar(&c.Demo, "demo", c.Demo, "create a demo workspace with the simulated SMS provider and print its login")
	fs.StringVar(&c.LogLevel, "log-level", env("TEXTBACK_LOG_LEVEL", c.LogLevel), "debug, info, warn or error (TEXTBACK_LOG_LEVEL)")
	fs.IntVar(&c.Workers, "workers", c.Workers, "concurrent SMS sends")
	fs.DurationVar(&c.PollInterval, "poll-interval", c.PollInterval, "how often idle send workers look for new jobs")
	fs.DurationVar(&c.RetryBase, "retry-base", c.RetryBase, "first retry delay of a failed send; it doubles each attempt")
	fs.IntVar(&c.MaxAttempts, "max-attempts", c.MaxAttempts, "send attempts before a message is given up")
	fs.DurationVar(&c.JobTimeout, "job-timeout", c.JobTimeout, "a send attempt is cancelled after this long")
	fs.DurationVar(&c.RescueAfter, "rescue-after", c.RescueAfter, "a send still running after this long (its process died) is tried again; more than --job-timeout")
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	if path, ok := os.LookupEnv(name + "_FILE"); ok {
		if b, err := os.ReadFile(path); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return def
}

// Validate checks the settings and fills in derived ones.
func (c *Config) Validate() error {
	var errs []error
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Addr
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("--public-url %q must be an http(s) URL", c.PublicURL))
	}
	if u, err := url.Parse(c.TwilioAPIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("--twilio-api-url %q must be an http(s) URL", c.TwilioAPIURL))
	}
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("--database-url is empty"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q must be debug, info, warn or error", c.LogLevel))
	}
	if c.Workers < 1 || c.MaxAttempts < 1 || c.PollInterval <= 0 || c.RetryBase <= 0 {
		errs = append(errs, errors.New("--workers, --max-attempts, --poll-interval and --retry-base must be positive"))
	}
	if c.JobTimeout <= 0 || c.RescueAfter <= c.JobTimeout {
		errs = append(errs, errors.New("--job-timeout must be positive and --rescue-after longer than it"))
	}
	return errors.Join(errs...)
}
