package smpp

import (
	"context"
	"sync"
	"time"
)

// limiter spaces events at least 1/rate apart (no bursts): SMSCs count
// submits per second and answer ESME_RTHROTTLED to an account that sends
// faster than it agreed to.
type limiter struct {
	mu       sync.Mutex
	interval time.Duration
	next     time.Time // earliest time of the next event
}

func newLimiter(perSecond int) *limiter {
	return &limiter{interval: time.Second / time.Duration(perSecond)}
}

// wait blocks until the caller's turn. A cancelled wait gives its turn up
// only for later callers' benefit, which is harmless.
func (l *limiter) wait(ctx context.Context) error {
	l.mu.Lock()
	now := time.Now()
	at := l.next
	if at.Before(now) {
		at = now
	}
	l.next = at.Add(l.interval)
	l.mu.Unlock()
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
