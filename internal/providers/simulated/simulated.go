// Package simulated is an SMS provider that sends nothing: it accepts every
// message (and remembers it) so that demos and tests see the whole flow
// without a carrier. A body containing "#fail" is rejected outright and one
// containing "#retry" fails once with a transient error, to show both paths.
package simulated

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/textback/textback/internal/ids"
	"github.com/textback/textback/internal/sms"
)

// Name is the provider name used in tracking numbers.
const Name = "simulated"

// Sent is one message the simulator accepted.
type Sent struct {
	ID  string
	Req sms.SendRequest
	At  time.Time
}

// Provider is the simulator. The zero value is not usable: call New.
type Provider struct {
	mu      sync.Mutex
	sent    []Sent
	retried map[string]bool
	keep    int
}

// New returns a simulator that remembers the last keep messages.
func New(keep int) *Provider {
	return &Provider{retried: map[string]bool{}, keep: keep}
}

func (p *Provider) Name() string { return Name }

func (p *Provider) Send(ctx context.Context, req sms.SendRequest) (sms.SendResult, error) {
	if err := ctx.Err(); err != nil {
		return sms.SendResult{}, &sms.SendError{Message: "cancelled before sending", Err: err}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case strings.Contains(req.Body, "#fail"):
		return sms.SendResult{}, &sms.SendError{Permanent: true, Code: "SIM400", Message: "the simulator rejects messages containing #fail"}
	case strings.Contains(req.Body, "#retry") && !p.retried[req.MessageID]:
		p.retried[req.MessageID] = true
		return sms.SendResult{}, &sms.SendError{Code: "SIM503", Message: "the simulator fails the first attempt of messages containing #retry"}
	}
	id := "SIM" + ids.Random(10)
	p.sent = append(p.sent, Sent{ID: id, Req: req, At: time.Now()})
	if p.keep > 0 && len(p.sent) > p.keep {
		p.sent = append(p.sent[:0:0], p.sent[len(p.sent)-p.keep:]...)
	}
	return sms.SendResult{ProviderMessageID: id, Status: sms.StatusDelivered}, nil
}

// Sent returns the messages accepted so far, oldest first.
func (p *Provider) Sent() []Sent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Sent(nil), p.sent...)
}
