package service

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/textback/textback/internal/ids"
	"github.com/textback/textback/internal/sms"
	"github.com/textback/textback/internal/store"
)

// SendArgs is the job that hands one stored message to its provider.
type SendArgs struct {
	MessageID string `json:"message_id"`
}

func (SendArgs) Kind() string { return "send_sms" }

// QueueConfig tunes the send queue.
type QueueConfig struct {
	Workers      int           // concurrent sends
	MaxAttempts  int           // before a transiently failing message is given up
	RetryBase    time.Duration // first retry delay; doubles each attempt, with jitter
	RetryMax     time.Duration
	PollInterval time.Duration // how often idle workers look for new jobs (on PostgreSQL a fallback: LISTEN/NOTIFY wakes them)
	JobTimeout   time.Duration // a send attempt is cancelled after this long
	RescueAfter  time.Duration // a job still running after this long (its process died) is run again
	PoolSize     int32         // PostgreSQL: connections of the workers' own pgx pool
}

func (c *QueueConfig) defaults() {
	if c.Workers <= 0 {
		c.Workers = 10
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	if c.RetryBase <= 0 {
		c.RetryBase = 2 * time.Second
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 10 * time.Minute
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 50 * time.Millisecond
	}
	if c.JobTimeout <= 0 {
		c.JobTimeout = 30 * time.Second
	}
	if c.RescueAfter <= 0 {
		c.RescueAfter = max(time.Minute, 2*c.JobTimeout)
	}
	if c.PoolSize <= 0 {
		c.PoolSize = 5
	}
}

// RiverQueue runs send jobs with River on the application database.
//
// On SQLite one client on River's SQLite driver inserts and works jobs. On
// PostgreSQL two clients share the work: the store's transactions are
// database/sql ones, so send jobs are inserted by an insert-only client on
// River's database/sql driver, in the very transaction that debits the
// credits; the jobs are worked by a client on River's pgx driver with a pgx
// pool of its own, which LISTENs for new jobs. River's insert sends
// NOTIFY river_insert inside the inserting transaction (whatever the
// driver), so the workers of every replica wake when it commits; polling
// every PollInterval remains as the fallback (River skips the NOTIFY for an
// insert that follows another within its fetch cooldown).
type RiverQueue struct {
	inserter *river.Client[*sql.Tx]
	start    func(context.Context) error
	stop     func(context.Context) error
	fast     *dispatcher // the in-process dispatch (dispatch.go)
	started  atomic.Bool
}

// EnqueueSend inserts the send job in the caller's transaction.
func (q *RiverQueue) EnqueueSend(ctx context.Context, tx *store.Tx, messageID string) error {
	opts := q.insertOpts(ctx) // held back for the in-process dispatch (dispatch.go)
	res, err := q.inserter.InsertTx(ctx, tx.Tx, SendArgs{MessageID: messageID}, opts)
	if err == nil && opts != nil && res != nil && res.Job != nil {
		q.fast.inserted(messageID, res.Job.ID)
	}
	return err
}

// Start runs the send workers until Stop.
func (q *RiverQueue) Start(ctx context.Context) error {
	if err := q.start(ctx); err != nil {
		return err
	}
	if q.fast != nil && q.started.CompareAndSwap(false, true) {
		q.fast.start()
	}
	return nil
}

// Stop lets running sends finish (up to ctx's deadline), then releases the
// queue's own connections. The application database stays open.
func (q *RiverQueue) Stop(ctx context.Context) error {
	if q.fast != nil && q.started.Load() {
		q.fast.stop(ctx)
	}
	return q.stop(ctx)
}

// MigrateQueue applies River's own migrations. Several processes starting
// together should run it inside store.DB.WithMigrationLock.
func MigrateQueue(ctx context.Context, db *store.DB) error {
	var (
		m   *rivermigrate.Migrator[*sql.Tx]
		err error
	)
	if db.Dialect.Name == "postgres" {
		m, err = rivermigrate.New(riverdatabasesql.New(db.SQL), nil)
	} else {
		m, err = rivermigrate.New[*sql.Tx](riversqlite.New(db.SQL), nil)
	}
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("error migrating the job queue: %w", err)
	}
	return nil
}

// NewRiverQueue makes the queue and its workers (started with Start).
func NewRiverQueue(ctx context.Context, s *Service, cfg QueueConfig) (*RiverQueue, error) {
	cfg.defaults()
	workers := river.NewWorkers()
	river.AddWorker(workers, &sendWorker{s: s})
	if s.DB.Dialect.Name != "postgres" {
		client, err := river.NewClient(riversqlite.New(s.DB.SQL), riverConfig(s, cfg, workers, true))
		if err != nil {
			return nil, err
		}
		q := &RiverQueue{inserter: client, start: client.Start, stop: client.Stop}
		q.fast = newDispatcher(s, cfg)
		q.fast.deleteJob, q.fast.retryJob = q.deleteJob, q.retryJob
		return q, nil
	}
	// Same settings on both clients: an inserted job takes its MaxAttempts
	// from the inserting client.
	inserter, err := river.NewClient(riverdatabasesql.New(s.DB.SQL), riverConfig(s, cfg, workers, false))
	if err != nil {
		return nil, err
	}
	pool, err := s.DB.NewPgxPool(ctx, cfg.PoolSize)
	if err != nil {
		return nil, err
	}
	worker, err := river.NewClient(riverpgxv5.New(pool), riverConfig(s, cfg, workers, true))
	if err != nil {
		pool.Close()
		return nil, err
	}
	stop := func(ctx context.Context) error {
		err := worker.Stop(ctx)
		pool.Close()
		return err
	}
	q := &RiverQueue{inserter: inserter, start: worker.Start, stop: stop}
	q.fast = newDispatcher(s, cfg)
	q.fast.deleteJob, q.fast.retryJob = q.deleteJob, q.retryJob
	return q, nil
}

// riverConfig is the queue's River configuration; work adds the queue the
// client works (without it the client only inserts).
func riverConfig(s *Service, cfg QueueConfig, workers *river.Workers, work bool) *river.Config {
	c := &river.Config{
		Workers:              workers,
		MaxAttempts:          cfg.MaxAttempts,
		RetryPolicy:          &backoff{base: cfg.RetryBase, max: cfg.RetryMax},
		FetchPollInterval:    cfg.PollInterval,
		FetchCooldown:        min(cfg.PollInterval, 20*time.Millisecond),
		Logger:               s.Log.With("component", "queue"),
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
	}
	if work {
		c.ID = clientID()
		c.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}}
	}
	return c
}

// clientID names this process's workers in River's tables (river_leader,
// a job's attempted_by) and logs: host, process id and a random suffix, so
// that replicas on one host are told apart.
func clientID() string {
	host, _ := os.Hostname()
	host = strings.NewReplacer(".", "_", "-", "_").Replace(host)
	if len(host) > 60 {
		host = host[:60]
	}
	return fmt.Sprintf("%s_pid%d_%s", cmp.Or(host, "unknown_host"), os.Getpid(), ids.Random(6))
}

// backoff doubles the delay each attempt, with ±25 % jitter so that many
// messages failing together do not retry together.
type backoff struct{ base, max time.Duration }

func (b *backoff) NextRetry(job *rivertype.JobRow) time.Time {
	d := b.base << min(job.Attempt-1, 20)
	if d > b.max || d <= 0 {
		d = b.max
	}
	d = time.Duration(float64(d) * (0.75 + rand.Float64()/2))
	return time.Now().Add(d)
}

type sendWorker struct {
	river.WorkerDefaults[SendArgs]
	s *Service

	retryAt sync.Map // job id → time.Time: the provider's Retry-After for the job's next attempt
}

func (w *sendWorker) Work(ctx context.Context, job *river.Job[SendArgs]) error {
	err := w.s.Send(ctx, job.Args.MessageID, job.Attempt >= job.MaxAttempts)
	if se, ok := err.(*sms.SendError); ok && se.RetryAfter > 0 {
		w.retryAt.Store(job.ID, time.Now().Add(se.RetryAfter))
	}
	return err
}

// NextRetry honours the provider's Retry-After (a 429's), with up to 25 %
// more as jitter, when it asked for one; otherwise the queue's backoff.
func (w *sendWorker) NextRetry(job *river.Job[SendArgs]) time.Time {
	v, ok := w.retryAt.LoadAndDelete(job.ID)
	if !ok {
		return time.Time{}
	}
	at := v.(time.Time)
	return at.Add(time.Duration(float64(time.Until(at)) * rand.Float64() / 4))
}

// Send hands a queued message to its provider once. It is called by the
// queue; lastAttempt says a transient failure now ends the message.
func (s *Service) Send(ctx context.Context, messageID string, lastAttempt bool) error {
	m, err := s.DB.R().GetMessage(ctx, messageID)
	if err != nil {
		return fmt.Errorf("error loading message %s: %w", messageID, err)
	}
	if m.Status != string(sms.StatusQueued) && m.Status != string(sms.StatusSending) {
		return nil // already handed over (a repeated job); never send twice
	}
	if wait := providerHold(m.ID); wait > 0 {
		return river.JobSnooze(wait) // the provider's Retry-After (holds.go)
	}
	provider, err := s.Providers.For(ctx, m.WorkspaceID, m.Provider)
	if err != nil {
		if errors.Is(err, ErrNotConfigured) {
			return s.reject(ctx, m, &sms.SendError{Permanent: true, Message: err.Error()})
		}
		return err
	}
	if err := s.claimForJob(ctx, m); err != nil {
		return err
	}
	_, err = s.deliver(ctx, m, provider, lastAttempt, 0)
	return err
}

// deliver hands a claimed message (status sending) to its provider and
// records the outcome; the queue's job and the in-process dispatch share it.
// jobID, when not 0, is the send job held back for the in-process dispatch:
// it is deleted in the transaction that records the provider's acceptance
// (one commit fewer per SMS), and jobDeleted says it was.
func (s *Service) deliver(ctx context.Context, m *store.Message, provider sms.Provider, lastAttempt bool, jobID int64) (jobDeleted bool, err error) {
	s.delivering.Store(m.ID, struct{}{})
	defer s.delivering.Delete(m.ID)
	q := s.DB.Q()
	req := sms.SendRequest{MessageID: m.ID, WorkspaceID: m.WorkspaceID, From: m.From, To: m.To, Body: m.Body}
	if m.Provider == ProviderTwilio && s.PublicURL != "" {
		req.StatusCallback = s.TwilioURLs(m.WorkspaceID).MessageStatus + "?message_id=" + m.ID
	}
	s.Metrics.QueueDelay.Observe(time.Since(m.CreatedAt).Seconds())
	start := time.Now()
	res, err := provider.Send(ctx, req)
	s.Metrics.SendLatency.WithLabelValues(m.Provider).Observe(time.Since(start).Seconds())
	if err == nil {
		s.Metrics.Sends.WithLabelValues(m.Provider, "accepted").Inc()
		status := res.Status
		if status.Rank() < sms.StatusSent.Rank() {
			status = sms.StatusSent
		}
		jobDeleted, err := s.recordAccepted(ctx, m.ID, res.ProviderMessageID, string(status), jobID)
		if err != nil {
			// The provider has the message: do not return an error, a retry would send it twice.
			s.Log.Error("message accepted by the provider but not recorded", "message", m.ID, "provider_message_id", res.ProviderMessageID, "err", err)
		}
		return jobDeleted, nil
	}
	se := sms.AsSendError(err)
	// The attempt is over: record it even when the job's deadline cut the
	// send short (left "sending" without an error, the message would be
	// held as if a dispatch were still sending it).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if se.Permanent {
		return false, s.reject(ctx, m, se)
	}
	s.Metrics.Sends.WithLabelValues(m.Provider, "retry").Inc()
	if se.RetryAfter > 0 {
		holdForProvider(m.ID, se.RetryAfter)
	}
	if err := q.MarkAttemptFailed(ctx, m.ID, se.Error(), se.MaybeSent); err != nil {
		return false, err
	}
	if !lastAttempt {
		s.Log.Warn("sms send failed, will retry", "message", m.ID, "provider", m.Provider, "err", se.Error())
		return false, se
	}
	s.Metrics.Sends.WithLabelValues(m.Provider, "failed").Inc()
	return false, s.giveUp(ctx, m.ID, se)
}

// recordAccepted records that the provider took a message. The provider
// already has it, so this must not be lost to the job's deadline (or the
// job's cancellation at shutdown) nor to a busy connection pool: it runs on
// a context of its own and is tried a few times. Were it lost, the message
// would stay "sending" with no provider id for its status reports.
//
// jobID, when not 0, is deleted in the same transaction (see deliver); if
// that fails (the queue has started the job after all), the acceptance is
// recorded on its own and the job, finding the message sent, does nothing.
func (s *Service) recordAccepted(ctx context.Context, id, providerMessageID, status string, jobID int64) (jobDeleted bool, err error) {
	// Tried until it succeeds or 2 minutes pass: a database that is down
	// for a while (a PostgreSQL restart) must not leave the message
	// "sending" for ever.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	deleter, _ := s.Queue.(txJobDeleter)
	if deleter == nil {
		jobID = 0
	}
	errDelete := errors.New("job not deleted")
	for try := 1; ; try++ {
		err = s.DB.InGroupTx(ctx, func(ctx context.Context, tx *store.Tx) error {
			if err := tx.MarkAccepted(ctx, id, providerMessageID, status); err != nil {
				return err
			}
			if jobID != 0 && deleter.DeleteJobTx(ctx, tx, jobID) != nil {
				return errDelete
			}
			return nil
		})
		switch {
		case err == nil:
			return jobID != 0, nil
		case errors.Is(err, errDelete):
			jobID = 0 // record the acceptance alone, at once
			continue
		}
		select {
		case <-ctx.Done():
			return false, err
		case <-time.After(min(time.Duration(try)*100*time.Millisecond, 2*time.Second)):
		}
	}
}

// txJobDeleter is a queue that can delete a job in a store transaction.
type txJobDeleter interface {
	DeleteJobTx(ctx context.Context, tx *store.Tx, id int64) error
}

// reject ends a message the provider refused outright: it was certainly not
// sent, so its credits are refunded.
func (s *Service) reject(ctx context.Context, m *store.Message, se *sms.SendError) error {
	s.Metrics.Sends.WithLabelValues(m.Provider, "rejected").Inc()
	s.Log.Warn("sms rejected by the provider", "message", m.ID, "provider", m.Provider, "err", se.Error())
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		return s.failAndRefund(ctx, tx, m.ID, se.Error(), true)
	})
	if err != nil {
		return err
	}
	return river.JobCancel(se)
}

// giveUp ends a message after its last transient failure. Credits are
// refunded only if no attempt may have reached the provider.
func (s *Service) giveUp(ctx context.Context, id string, se *sms.SendError) error {
	s.Log.Error("sms failed after the last attempt", "message", id, "err", se.Error())
	err := s.DB.InTx(ctx, func(tx *store.Tx) error {
		return s.failAndRefund(ctx, tx, id, se.Error(), false)
	})
	if err != nil {
		return err
	}
	return river.JobCancel(se)
}

func (s *Service) failAndRefund(ctx context.Context, tx *store.Tx, id, errText string, certainlyNotSent bool) error {
	m, err := tx.LockMessage(ctx, id)
	if err != nil {
		return err
	}
	if m.Status != string(sms.StatusQueued) && m.Status != string(sms.StatusSending) {
		return nil
	}
	refund := m.Credits > 0 && (certainlyNotSent || !m.MaybeSent)
	credits := m.Credits
	if refund {
		credits = 0
	}
	if err := tx.MarkFailed(ctx, m.ID, errText, credits); err != nil {
		return err
	}
	if !refund {
		return nil
	}
	return tx.ApplyLedger(ctx, &store.LedgerEntry{ID: ids.New("led"), WorkspaceID: m.WorkspaceID, Delta: m.Credits,
		Reason: store.ReasonRefund, Reference: "not sent: " + truncate(errText, 200), CallID: m.CallID, MessageID: &m.ID,
		IdempotencyKey: "refund:" + m.ID})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
