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
// it can claim it, and otherwise leaves it to the queue's job. It says
// whether the message was handed to the provider (the job has nothing
// left to do).
func (s *Service) SendNow(ctx context.Context, messageID string) bool {
	q := s.DB.Q()
	m, err := q.GetMessage(ctx, messageID)
	if err != nil || m.Status != string(sms.StatusQueued) {
		return false
	}
	provider, err := s.Providers.For(ctx, m.WorkspaceID, m.Provider)
	if err != nil && !errors.Is(err, ErrNotConfigured) {
		return false // the job will try
	}
	claimed, err := q.ClaimQueued(ctx, m.ID)
	if err != nil || !claimed {
		return false
	}
	if provider == nil {
		_ = s.reject(ctx, m, &sms.SendError{Permanent: true, Message: "the SMS provider is not configured"})
		return false
	}
	return s.deliver(ctx, m, provider, false) == nil
}

// dispatcher runs SendNow on a few goroutines for messages handed to it
// after their transaction committed.
type dispatcher struct {
	s         *Service
	ch        chan dispatchItem
	n         int
	wg        sync.WaitGroup
	once      sync.Once
	deleteJob func(context.Context, int64) error

	mu   sync.Mutex
	jobs map[string]int64 // message id → its send job, from insertion to dispatch
}

type dispatchItem struct {
	messageID string
	jobID     int64
}

// maxPendingJobs bounds the message → job map (entries of transactions
// that rolled back, or of messages never dispatched, are dropped with it).
const maxPendingJobs = 20_000

func newDispatcher(s *Service, workers int, deleteJob func(context.Context, int64) error) *dispatcher {
	return &dispatcher{s: s, ch: make(chan dispatchItem, 4096), n: max(workers, 1), deleteJob: deleteJob, jobs: map[string]int64{}}
}

// inserted notes the send job of a message (in its still open transaction).
func (d *dispatcher) inserted(messageID string, jobID int64) {
	d.mu.Lock()
	if len(d.jobs) >= maxPendingJobs {
		clear(d.jobs)
	}
	d.jobs[messageID] = jobID
	d.mu.Unlock()
}

// start runs the dispatch until stop.
func (d *dispatcher) start() {
	for range d.n {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			for it := range d.ch {
				ctx, cancel := context.WithTimeout(context.Background(), dispatchSendTimeout)
				if d.s.SendNow(ctx, it.messageID) && it.jobID != 0 && d.deleteJob != nil {
					// Sent: the backstop job would only find it sent. Delete
					// it unless the queue is running it (it then finds the
					// message sent and completes).
					_ = d.deleteJob(ctx, it.jobID)
				}
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
	d.mu.Lock()
	jobID := d.jobs[id]
	delete(d.jobs, id)
	d.mu.Unlock()
	select {
	case d.ch <- dispatchItem{messageID: id, jobID: jobID}:
		return true
	default:
		return false
	}
}

// Dispatcher is a queue that can send a committed message at once.
type Dispatcher interface {
	Dispatch(messageID string)
}

func (q *RiverQueue) deleteJob(ctx context.Context, id int64) error {
	_, err := q.inserter.JobDelete(ctx, id)
	return err
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
