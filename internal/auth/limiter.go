package auth

import (
	"sync"
	"time"
)

// Limiter counts failures per key in a fixed window: after max failures the
// key is refused until the window that started with the first one ends.
// Sign-ins use it per e-mail and per client address.
type Limiter struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	now    func() time.Time
	hits   map[string]*window
}

type window struct {
	start time.Time
	n     int
}

// NewLimiter allows max failures per key in each window.
func NewLimiter(max int, w time.Duration, now func() time.Time) *Limiter {
	return &Limiter{max: max, window: w, now: now, hits: map[string]*window{}}
}

// Blocked reports whether key has used up its failures.
func (l *Limiter) Blocked(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.hits[key]
	return w != nil && l.now().Sub(w.start) < l.window && w.n >= l.max
}

// Fail counts one failure for key.
func (l *Limiter) Fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.hits) > 100_000 { // bound memory under a spray of keys
		for k, w := range l.hits {
			if now.Sub(w.start) >= l.window {
				delete(l.hits, k)
			}
		}
	}
	w := l.hits[key]
	if w == nil || now.Sub(w.start) >= l.window {
		w = &window{start: now}
		l.hits[key] = w
	}
	w.n++
}
