package service

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/textback/textback/internal/sms"
	"github.com/textback/textback/internal/store"
)

// In-process dispatch: right after the transaction that queued an
// autoreply commits, the process that committed it sends it, without
// waiting for the queue to poll (on SQLite River only polls; on PostgreSQL
// LISTEN wakes it, but a fetch still costs a round of queries). The River
// job inserted in that transaction stays the durable backstop: if this
// process dies, or the dispatch is full, the job sends the message.
//
// Exactly once: both paths claim the message atomically from queued
// (store.ClaimQueued); only the winner sends. A job that finds the message
// sending with no error, claimed less than dispatchLease ago, is snoozed:
// the dispatch may be sending it right now. A dispatch that fails
// transiently records the attempt's error, which hands the message to the
// job (its retry sends it); one that is rejected outright refunds it as the
// job would. A dispatch that died mid-send (its process did) leaves the
// message sending without an error: after dispatchLease the job sends it
// again, the same at-least-once window as a job whose process died.

const (
	dispatchSendTimeout = 30 * time.Second
	// dispatchLease outlasts a dispatch: its send (dispatchSendTimeout)
	// and the recording of an acceptance (recordAccepted, up to 2 min).
	dispatchLease = dispatchSendTimeout + 2*time.Minute + 30*time.Second
	snoozeStep    = time.Second
)

// dispatchHolds says how long a job should wait before looking at m again
// because the in-process dispatch may be sending it (0: go ahead).
func dispatchHolds(m *store.Message, now time.Time) time.Duration {
	if m.Status != string(sms.StatusSending) || m.Error != nil {
		return 0
	}
	left := dispatchLease - now.Sub(m.UpdatedAt)
	if left <= 0 {
		return 0
	}
	return min(left, snoozeStep)
}

// claimForJob claims m for the queue's job: from queued atomically (the
// dispatch may claim it at the same moment), or again after a failed attempt.
func (s *Service) claimForJob(ctx context.Context, m *store.Message) error {
	q := s.DB.Q()
	if m.Status == string(sms.StatusQueued) {
		claimed, err := q.ClaimQueued(ctx, m.ID)
		if err != nil {
			return fmt.Errorf("error claiming message: %w", err)
		}
		if !claimed {
			return river.JobSnooze(snoozeStep) // the dispatch took it: look again later
		}
		return nil
	}
	if err := q.MarkSending(ctx, m.ID); err != nil {
		return fmt.Errorf("error marking message sending: %w", err)
	}
	return nil
}

// SendNow is the in-process dispatch of one queued message: it sends it if
// it can claim it, and otherwise leaves it to the queue's job.
func (s *Service) SendNow(ctx context.Context, messageID string) {
	q := s.DB.Q()
	m, err := q.GetMessage(ctx, messageID)
	if err != nil || m.Status != string(sms.StatusQueued) {
		return
	}
	provider, err := s.Providers.For(ctx, m.WorkspaceID, m.Provider)
	if err != nil && !errors.Is(err, ErrNotConfigured) {
		return // the job will try
	}
	claimed, err := q.ClaimQueued(ctx, m.ID)
	if err != nil || !claimed {
		return
	}
	if provider == nil {
		_ = s.reject(ctx, m, &sms.SendError{Permanent: true, Message: "the SMS provider is not configured"})
		return
	}
	_ = s.deliver(ctx, m, provider, false)
}

// dispatcher runs SendNow on a few goroutines for messages handed to it
// after their transaction committed.
type dispatcher struct {
	s    *Service
	ch   chan string
	n    int
	wg   sync.WaitGroup
	once sync.Once
}

func newDispatcher(s *Service, workers int) *dispatcher {
	return &dispatcher{s: s, ch: make(chan string, 4096), n: max(workers, 1)}
}

// start runs the dispatch until stop.
func (d *dispatcher) start() {
	for range d.n {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			for id := range d.ch {
				ctx, cancel := context.WithTimeout(context.Background(), dispatchSendTimeout)
				d.s.SendNow(ctx, id)
				cancel()
			}
		}()
	}
}

// stop lets the handed-over messages go out (the rest is left to the queue).
func (d *dispatcher) stop(ctx context.Context) {
	d.once.Do(func() { close(d.ch) })
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// offer hands a committed message to the dispatch, if it has room and runs.
func (d *dispatcher) offer(id string) (ok bool) {
	defer func() {
		if recover() != nil { // stopped: the queue's job will send it
			ok = false
		}
	}()
	select {
	case d.ch <- id:
		return true
	default:
		return false
	}
}

// Dispatcher is a queue that can send a committed message at once.
type Dispatcher interface {
	Dispatch(messageID string)
}

// Dispatch offers a committed message to the in-process dispatch (only
// once the queue has started: without workers nothing is sent).
func (q *RiverQueue) Dispatch(messageID string) {
	if q.fast != nil && q.started.Load() {
		q.fast.offer(messageID)
	}
}

// dispatchCommitted is called after a transaction that queued messageID committed.
func (s *Service) dispatchCommitted(messageID string) {
	if d, ok := s.Queue.(Dispatcher); ok && messageID != "" {
		d.Dispatch(messageID)
	}
}
