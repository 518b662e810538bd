// Package app wires textback together: database, queue, providers, service
// and HTTP handler. cmd/textback and the end-to-end tests both use it.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/textback/textback/internal/api"
	"github.com/textback/textback/internal/config"
	"github.com/textback/textback/internal/providers/simulated"
	"github.com/textback/textback/internal/service"
	"github.com/textback/textback/internal/store"
	"github.com/textback/textback/internal/web"
)

// App is a running textback.
type App struct {
	Config    config.Config
	DB        *store.DB
	Svc       *service.Service
	Queue     *service.RiverQueue
	Simulated *simulated.Provider
	Registry  *prometheus.Registry
	Handler   http.Handler
}

// Open connects and migrates the database and builds the app; Start runs
// its workers.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	db, err := Migrate(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if db.Dialect.Name == "sqlite" {
		reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "textback_db_group_commits_total",
				Help: "SQLite: commits made by the group commit of the hot path's transactions."},
				func() float64 { return float64(db.GroupStats().Commits) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "textback_db_group_transactions_total",
				Help: "SQLite: hot-path transactions committed by the group commit (divided by the commits: the mean batch)."},
				func() float64 { return float64(db.GroupStats().Functions) }))
	}
	sim := simulated.New(1000)
	svc := &service.Service{
		DB:        db,
		PublicURL: cfg.PublicURL,
		Log:       log,
		Metrics:   service.NewMetrics(reg),
		Providers: &service.Providers{DB: db, TwilioAPIURL: cfg.TwilioAPIURL, Simulated: sim, SendTimeout: 10 * time.Second},
	}
	svc.Providers.Carriers = service.NewCarriers(svc) // SMPP binds (opened by Start) and Kannel
	q, err := service.NewRiverQueue(ctx, svc, service.QueueConfig{Workers: cfg.Workers, MaxAttempts: cfg.MaxAttempts,
		RetryBase: cfg.RetryBase, PollInterval: cfg.PollInterval, JobTimeout: cfg.JobTimeout, RescueAfter: cfg.RescueAfter})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("error creating the job queue: %w", err)
	}
	svc.Queue = q
	srv := &api.Server{Svc: svc, Log: log, Gatherer: reg}
	a := &App{Config: cfg, DB: db, Svc: svc, Queue: q, Simulated: sim, Registry: reg}
	ui := &web.UI{Svc: svc, Log: log, Demo: cfg.Demo,
		Webhooks: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.Handler.ServeHTTP(w, r) })}
	if srv.UI, err = ui.Handler(); err != nil {
		db.Close()
		return nil, fmt.Errorf("error loading the web UI: %w", err)
	}
	a.Handler = srv.Handler()
	return a, nil
}

// Migrate opens the database and applies textback's and the queue's
// migrations, under the migration lock: replicas starting together migrate
// one after the other, and all but the first find nothing to do.
func Migrate(ctx context.Context, url string) (*store.DB, error) {
	db, err := store.Open(ctx, url)
	if err != nil {
		return nil, err
	}
	err = db.WithMigrationLock(ctx, func(ctx context.Context) error {
		if err := db.Migrate(ctx); err != nil {
			return err
		}
		return service.MigrateQueue(ctx, db)
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// Start runs the send workers and opens the SMPP binds until Stop.
func (a *App) Start(ctx context.Context) error {
	if err := a.Svc.Providers.Carriers.Start(ctx); err != nil {
		return err
	}
	return a.Queue.Start(ctx)
}

// Stop lets running sends finish (up to ctx's deadline) and closes the database.
func (a *App) Stop(ctx context.Context) error {
	err := a.Queue.Stop(ctx)
	if cerr := a.Svc.Providers.Carriers.Stop(ctx); err == nil { // after the sends: they may use the binds
		err = cerr
	}
	if cerr := a.DB.Close(); err == nil {
		err = cerr
	}
	return err
}
