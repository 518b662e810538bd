package smpp

import (
	"context"
	"log/slog"
	"sort"
	"sync"

	"github.com/textback/textback/internal/sms"
)

// Manager owns the binds, one per key (textback uses the workspace id).
// Configure starts a bind or rebinds with new settings; Close unbinds all.
type Manager struct {
	h    Handler
	log  *slog.Logger
	opts Options

	mu     sync.Mutex
	binds  map[string]*bind
	closed bool
}

// NewManager returns a Manager that hands receipts and inbound SMS to h.
func NewManager(h Handler, log *slog.Logger, opts Options) *Manager {
	opts.defaults()
	return &Manager{h: h, log: log.With("component", "smpp"), opts: opts, binds: map[string]*bind{}}
}

// Configure makes sure key has a bind for acct: it starts one, or replaces
// a bind made with other settings (unbinding it first), or does nothing.
func (m *Manager) Configure(key string, acct Account) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	old := m.binds[key]
	if old != nil && old.acct == acct {
		m.mu.Unlock()
		return
	}
	b := newBind(key, acct, &m.opts, m.h, m.log)
	m.binds[key] = b
	m.mu.Unlock()
	if old != nil {
		m.log.Info("smpp settings changed, rebinding", "key", key)
		old.close()
	}
	go b.run()
}

// Remove unbinds key's bind, if any.
func (m *Manager) Remove(key string) {
	m.mu.Lock()
	b := m.binds[key]
	delete(m.binds, key)
	m.mu.Unlock()
	if b != nil {
		b.close()
	}
}

// Keys lists the configured keys, sorted.
func (m *Manager) Keys() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	keys := make([]string, 0, len(m.binds))
	for k := range m.binds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Bound reports whether key's bind is up (configured says whether it has
// one at all) and, when it is down, why.
func (m *Manager) Bound(key string) (configured, bound bool, lastErr error) {
	m.mu.Lock()
	b := m.binds[key]
	m.mu.Unlock()
	if b == nil {
		return false, false, nil
	}
	bound, lastErr = b.bound()
	return true, bound, lastErr
}

// Provider is the sms.Provider sending through key's bind (whatever bind
// key has when Send is called).
func (m *Manager) Provider(key string) sms.Provider { return &sender{m: m, key: key} }

// Close unbinds everything and stops reconnecting. ctx bounds the wait.
func (m *Manager) Close(ctx context.Context) error {
	m.mu.Lock()
	m.closed = true
	binds := m.binds
	m.binds = map[string]*bind{}
	m.mu.Unlock()
	done := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		for _, b := range binds {
			wg.Add(1)
			go func() { defer wg.Done(); b.close() }()
		}
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type sender struct {
	m   *Manager
	key string
}

func (s *sender) Name() string { return Name }

func (s *sender) Send(ctx context.Context, req sms.SendRequest) (sms.SendResult, error) {
	s.m.mu.Lock()
	b, closed := s.m.binds[s.key], s.m.closed
	s.m.mu.Unlock()
	switch {
	case closed:
		return sms.SendResult{}, &sms.SendError{Message: ErrClosed.Error(), Err: ErrClosed}
	case b == nil:
		return sms.SendResult{}, &sms.SendError{Permanent: true, Message: "SMPP is not configured for this workspace"}
	}
	return b.Send(ctx, req)
}
