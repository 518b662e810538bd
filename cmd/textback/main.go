// Command textback is the missed-call autoresponder: an HTTP server with
// its workers, and the commands to set it up.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/textback/textback/internal/app"
	"github.com/textback/textback/internal/config"
	"github.com/textback/textback/internal/service"
)

const usage = `textback: when a call to a tracking number is missed, text the caller back.

Usage:
  textback serve [--addr A] [--database-url URL] [--public-url U] [--twilio-api-url U] [--demo]
  textback migrate [--database-url URL]
  textback workspace create --name N --admin-email E --admin-password P [--time-zone TZ] [--database-url URL]
  textback backup --to FILE [--database-url sqlite:PATH]
  textback simulate-call --api-key KEY [--url http://127.0.0.1:8080] [--from +1...] [--to TRACKING] [--status missed]
  textback loadtest --spawn [--database-url URL] [--rate R | --concurrency C] [--duration D | --calls N] [--json]

Run "textback COMMAND -h" for a command's flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "serve":
		err = serve(ctx, args)
	case "migrate":
		err = migrate(ctx, args)
	case "workspace":
		if len(args) == 0 || args[0] != "create" {
			err = errors.New(`usage: textback workspace create --name N --admin-email E --admin-password P`)
			break
		}
		err = createWorkspace(ctx, args[1:], os.Stdout)
	case "simulate-call":
		err = simulateCall(ctx, args, os.Stdout)
	case "backup":
		err = backup(ctx, args, os.Stdout)
	case "loadtest":
		err = runLoadtest(ctx, args, os.Stdout)
	case "-h", "--help", "help":
		fmt.Print(usage)
	default:
		err = fmt.Errorf("unknown command %q\n\n%s", cmd, usage)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "textback:", err)
		os.Exit(1)
	}
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

func serve(ctx context.Context, args []string) error {
	cfg := config.Defaults()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg.Bind(fs)
	pprofAddr := fs.String("pprof-addr", "", "serve Go's pprof profiles on this address (off unless given; keep it on loopback)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel)
	startPprof(*pprofAddr, log)
	a, err := app.Open(ctx, cfg, log)
	if err != nil {
		return err
	}
	if err := a.Start(ctx); err != nil {
		return err
	}
	srv := &http.Server{Addr: cfg.Addr, Handler: a.Handler, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("textback is listening", "addr", cfg.Addr, "public_url", cfg.PublicURL)
	if cfg.Demo {
		d, err := a.EnsureDemo(ctx)
		if err != nil {
			return fmt.Errorf("error creating the demo workspace: %w", err)
		}
		printDemo(os.Stdout, cfg, d)
	}
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	if serr := a.Stop(shutdown); err == nil || errors.Is(err, http.ErrServerClosed) {
		err = serr
	}
	return err
}

func printDemo(w io.Writer, cfg config.Config, d *app.Demo) {
	fmt.Fprintf(w, `
textback demo is running at %s
  sign in:          %s / %s
  API key (admin):  %s
  workspace:        %s, tracking number %s (SMS through the simulated provider, 100 credits)

Send a test missed call:
  go run ./cmd/textback simulate-call --url %s --api-key %s
then see it and its autoreply:
  curl -s -H 'Authorization: Bearer %s' %s/api/v1/calls

`, cfg.PublicURL, app.DemoEmail, app.DemoPassword, d.APIKey, d.WorkspaceID, d.TrackingNumber,
		"http://"+cfg.Addr, d.APIKey, d.APIKey, "http://"+cfg.Addr)
}

func migrate(ctx context.Context, args []string) error {
	cfg := config.Defaults()
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.StringVar(&cfg.DatabaseURL, "database-url", envOr("TEXTBACK_DATABASE_URL", cfg.DatabaseURL), "sqlite:PATH or postgres://...")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := app.Migrate(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	fmt.Println("migrations applied")
	return db.Close()
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func createWorkspace(ctx context.Context, args []string, out io.Writer) error {
	cfg := config.Defaults()
	var nw service.NewWorkspace
	fs := flag.NewFlagSet("workspace create", flag.ContinueOnError)
	fs.StringVar(&cfg.DatabaseURL, "database-url", envOr("TEXTBACK_DATABASE_URL", cfg.DatabaseURL), "sqlite:PATH or postgres://...")
	fs.StringVar(&nw.Name, "name", "", "workspace name")
	fs.StringVar(&nw.AdminEmail, "admin-email", "", "the first administrator's e-mail")
	fs.StringVar(&nw.AdminPassword, "admin-password", "", "the first administrator's password (8 characters or more)")
	fs.StringVar(&nw.TimeZone, "time-zone", "UTC", "IANA time zone: the monthly SMS limit resets on the 1st there")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if nw.Name == "" || nw.AdminEmail == "" || nw.AdminPassword == "" {
		return errors.New("--name, --admin-email and --admin-password are required")
	}
	cfg.PublicURL = "http://localhost"
	a, err := app.Open(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer a.DB.Close()
	cw, err := a.Svc.CreateWorkspace(ctx, nw)
	if err != nil {
		return err
	}
	return json.NewEncoder(out).Encode(map[string]string{"workspace_id": cw.Workspace.ID, "user_id": cw.User.ID, "api_key": cw.APIKey, "site_id": cw.Site.ID})
}

func simulateCall(ctx context.Context, args []string, out io.Writer) error {
	var sc simulation
	fs := flag.NewFlagSet("simulate-call", flag.ContinueOnError)
	fs.StringVar(&sc.BaseURL, "url", "http://127.0.0.1:8080", "textback's address")
	fs.StringVar(&sc.APIKey, "api-key", os.Getenv("TEXTBACK_API_KEY"), "an admin API key of the workspace (TEXTBACK_API_KEY)")
	fs.StringVar(&sc.From, "from", "+14155550123", "the caller")
	fs.StringVar(&sc.To, "to", "", "the tracking number called (default: the first site's first number)")
	fs.StringVar(&sc.Status, "status", "missed", "missed, answered, ringing or completed")
	fs.StringVar(&sc.Detail, "detail", "", "for missed: no-answer, busy, failed, canceled or voicemail")
	fs.StringVar(&sc.CallID, "call-id", "", "the provider's call id (default: a new one; reuse one to replay an event)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if sc.APIKey == "" {
		return errors.New("--api-key is required (serve --demo prints one)")
	}
	res, err := sc.run(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, res)
	return nil
}
