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
// LISTEN wakes it, but a fetch still costs a round of queries).
//
// The River job inserted in that transaction stays the durable backstop,
// but it is inserted scheduled --rescue-after ahead: the queue leaves it
// alone while the dispatch works. When the dispatch ends with the message
// sent or refused, it deletes the job; when it fails transiently, or cannot
// take the message (full, stopped), it makes the job available at once and
// the queue's retries take over. If the process dies, the job becomes
// available after --rescue-after and sends the message: the same window,
// and the same at-least-once caveat, as River's rescue of a job whose
// process died mid-send.
//
// Exactly once: both paths claim the message atomically from queued
// (store.ClaimQueued); only the winner sends.

// dispatchKey marks a context whose transaction's send jobs the dispatch will send.
type dispatchKey struct{}

func withDispatch(ctx context.Context) context.Context {
	return context.WithValue(ctx, dispatchKey{}, true)
}

// claimLostSnooze is how long a job waits when the dispatch claimed its
// message first (it only can if the job ran early): longer than a send.
const claimLostSnooze = time.Minute

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
			return river.JobSnooze(claimLostSnooze) // the dispatch took it: look again once it is done
		}
		return nil
	}
	// "sending": a process stopped mid-send, or this process is still
	// sending it or recording the provider's answer (the database may have
	// been away). Only the first is resumed here.
	if _, busy := s.delivering.Load(m.ID); busy {
		return river.JobSnooze(claimLostSnooze)
	}
	if err := q.MarkSending(ctx, m.ID); err != nil {
		return fmt.Errorf("error marking message sending: %w", err)
	}
	return nil
}

// SendNow is the in-process dispatch of one queued message: it sends it if
// it can claim it. It says whether the message has reached its end (sent,
// or refused and refunded): its send job has nothing left to do. Otherwise
// the job must run. jobDeleted says the job (jobID) was deleted with the
// provider's acceptance.
func (s *Service) SendNow(ctx context.Context, messageID string, jobID int64) (done, jobDeleted bool) {
	m, err := s.DB.R().GetMessage(ctx, messageID)
	if err != nil {
		return false, false
	}
	if m.Status != string(sms.StatusQueued) {
		return m.Status != string(sms.StatusSending), false
	}
	provider, err := s.Providers.For(ctx, m.WorkspaceID, m.Provider)
	if err != nil && !errors.Is(err, ErrNotConfigured) {
		return false, false
	}
	var claimed bool
	err = s.DB.InGroupTx(ctx, func(ctx context.Context, tx *store.Tx) (err error) {
		claimed, err = tx.ClaimQueued(ctx, m.ID) // committed with other sends' claims when they come together
		return err
	})
	if err != nil || !claimed {
		return false, false
	}
	if provider == nil {
		err = s.reject(ctx, m, &sms.SendError{Permanent: true, Message: "the SMS provider is not configured"})
	} else {
		jobDeleted, err = s.deliver(ctx, m, provider, false, jobID)
	}
	var cancel *river.JobCancelError
	return err == nil || errors.As(err, &cancel), jobDeleted // sent (or accepted), or refused: never again
}

// dispatcher runs SendNow on a few goroutines for messages handed to it
// after their transaction committed.
type dispatcher struct {
	s       *Service
	ch      chan dispatchItem
	n       int
	timeout time.Duration // of one send
	hold    time.Duration // the job waits this long for the dispatch (--rescue-after)
	wg      sync.WaitGroup
	once    sync.Once

	deleteJob func(context.Context, int64) error
	retryJob  func(context.Context, int64) error

	mu   sync.Mutex
	jobs map[string]int64 // message id → its send job, from insertion to dispatch
}

type dispatchItem struct {
	messageID string
	jobID     int64
}

// maxPendingJobs bounds the message → job map (entries of transactions
// that rolled back are dropped with it; their jobs rolled back too).
const maxPendingJobs = 20_000

func newDispatcher(s *Service, cfg QueueConfig) *dispatcher {
	return &dispatcher{s: s, ch: make(chan dispatchItem, 4096), n: max(cfg.Workers, 1), timeout: cfg.JobTimeout,
		hold: cfg.RescueAfter, jobs: map[string]int64{}}
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
				ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
				done, deleted := d.s.SendNow(ctx, it.messageID, it.jobID)
				cancel()
				if !deleted {
					d.settleJob(it.jobID, done)
				}
			}
		}()
	}
}

// settleJob deletes a job whose message is done (the queue is not running
// it: it is scheduled), or makes it available at once.
func (d *dispatcher) settleJob(jobID int64, done bool) {
	if jobID == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if done {
		_ = d.deleteJob(ctx, jobID) // failing, the job runs later and finds the message done
		return
	}
	if err := d.retryJob(ctx, jobID); err != nil {
		d.s.Log.Warn("could not hand a message back to the queue; it goes out after --rescue-after", "job", jobID, "err", err)
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

// offer hands a committed message to the dispatch; when it has no room or
// has stopped, the message's job is made available to the queue at once.
func (d *dispatcher) offer(id string) {
	d.mu.Lock()
	jobID, ok := d.jobs[id]
	delete(d.jobs, id)
	d.mu.Unlock()
	if !ok {
		return // not inserted for the dispatch: the queue has it
	}
	if !d.tryOffer(dispatchItem{messageID: id, jobID: jobID}) {
		d.settleJob(jobID, false)
	}
}

func (d *dispatcher) tryOffer(it dispatchItem) (ok bool) {
	defer func() {
		if recover() != nil { // stopped
			ok = false
		}
	}()
	select {
	case d.ch <- it:
		return true
	default:
		return false
	}
}

// insertOpts are the send job's options: held back for the dispatch when
// the transaction is one whose messages will be dispatched.
func (q *RiverQueue) insertOpts(ctx context.Context) *river.InsertOpts {
	if q.fast == nil || !q.started.Load() || ctx.Value(dispatchKey{}) == nil {
		return nil
	}
	return &river.InsertOpts{ScheduledAt: time.Now().Add(q.fast.hold)}
}

func (q *RiverQueue) deleteJob(ctx context.Context, id int64) error {
	_, err := q.inserter.JobDelete(ctx, id)
	return err
}

// DeleteJobTx deletes a job in a store transaction (txJobDeleter).
func (q *RiverQueue) DeleteJobTx(ctx context.Context, tx *store.Tx, id int64) error {
	_, err := q.inserter.JobDeleteTx(ctx, tx.Tx, id)
	return err
}

func (q *RiverQueue) retryJob(ctx context.Context, id int64) error {
	_, err := q.inserter.JobRetry(ctx, id)
	return err
}

// Dispatcher is a queue that can send a committed message at once.
type Dispatcher interface {
	Dispatch(messageID string)
}

// Dispatch offers a committed message to the in-process dispatch.
func (q *RiverQueue) Dispatch(messageID string) {
	if q.fast != nil {
		q.fast.offer(messageID)
	}
}

// dispatchCommitted is called after a transaction that queued messageID committed.
func (s *Service) dispatchCommitted(messageID string) {
	if d, ok := s.Queue.(Dispatcher); ok && messageID != "" {
		d.Dispatch(messageID)
	}
}
