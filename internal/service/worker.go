package service

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river"
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
	PollInterval time.Duration // how often idle workers look for new jobs
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
}

// RiverQueue runs send jobs with River on the application database.
type RiverQueue struct {
	Client *river.Client[*sql.Tx]
}

// EnqueueSend inserts the send job in the caller's transaction.
func (q *RiverQueue) EnqueueSend(ctx context.Context, tx *store.Tx, messageID string) error {
	_, err := q.Client.InsertTx(ctx, tx.Tx, SendArgs{MessageID: messageID}, nil)
	return err
}

// MigrateQueue applies River's own migrations.
func MigrateQueue(ctx context.Context, db *store.DB) error {
	m, err := rivermigrate.New(riversqlite.New(db.SQL), nil)
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("error migrating the job queue: %w", err)
	}
	return nil
}

// NewRiverQueue makes the queue and its workers (started with Client.Start).
func NewRiverQueue(s *Service, cfg QueueConfig) (*RiverQueue, error) {
	cfg.defaults()
	workers := river.NewWorkers()
	river.AddWorker(workers, &sendWorker{s: s})
	client, err := river.NewClient(riversqlite.New(s.DB.SQL), &river.Config{
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}},
		Workers:           workers,
		MaxAttempts:       cfg.MaxAttempts,
		RetryPolicy:       &backoff{base: cfg.RetryBase, max: cfg.RetryMax},
		FetchPollInterval: cfg.PollInterval,
		FetchCooldown:     min(cfg.PollInterval, 20*time.Millisecond),
		Logger:            s.Log.With("component", "queue"),
		JobTimeout:        2 * time.Minute,
	})
	if err != nil {
		return nil, err
	}
	return &RiverQueue{Client: client}, nil
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
}

func (w *sendWorker) Work(ctx context.Context, job *river.Job[SendArgs]) error {
	return w.s.Send(ctx, job.Args.MessageID, job.Attempt >= job.MaxAttempts)
}

// Send hands a queued message to its provider once. It is called by the
// queue; lastAttempt says a transient failure now ends the message.
func (s *Service) Send(ctx context.Context, messageID string, lastAttempt bool) error {
	q := s.DB.Q()
	m, err := q.GetMessage(ctx, messageID)
	if err != nil {
		return fmt.Errorf("error loading message %s: %w", messageID, err)
	}
	if m.Status != string(sms.StatusQueued) && m.Status != string(sms.StatusSending) {
		return nil // already handed over (a repeated job); never send twice
	}
	provider, err := s.Providers.For(ctx, m.WorkspaceID, m.Provider)
	if err != nil {
		if errors.Is(err, ErrNotConfigured) {
			return s.reject(ctx, m, &sms.SendError{Permanent: true, Message: err.Error()})
		}
		return err
	}
	if err := q.MarkSending(ctx, m.ID); err != nil {
		return fmt.Errorf("error marking message sending: %w", err)
	}
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
		if err := q.MarkAccepted(ctx, m.ID, res.ProviderMessageID, string(status)); err != nil {
			// The provider has the message: do not return an error, a retry would send it twice.
			s.Log.Error("message accepted by the provider but not recorded", "message", m.ID, "provider_message_id", res.ProviderMessageID, "err", err)
		}
		return nil
	}
	se := sms.AsSendError(err)
	if se.Permanent {
		return s.reject(ctx, m, se)
	}
	s.Metrics.Sends.WithLabelValues(m.Provider, "retry").Inc()
	if err := q.MarkAttemptFailed(ctx, m.ID, se.Error(), se.MaybeSent); err != nil {
		return err
	}
	if !lastAttempt {
		s.Log.Warn("sms send failed, will retry", "message", m.ID, "provider", m.Provider, "err", se.Error())
		return se
	}
	s.Metrics.Sends.WithLabelValues(m.Provider, "failed").Inc()
	return s.giveUp(ctx, m.ID, se)
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
