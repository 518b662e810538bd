package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/textback/textback/internal/providers/simulated"
	"github.com/textback/textback/internal/providers/twilio"
	"github.com/textback/textback/internal/sms"
	"github.com/textback/textback/internal/store"
)

// SMS provider names a tracking number can send through.
const (
	ProviderTwilio    = "twilio"
	ProviderSimulated = simulated.Name
	ProviderGeneric   = "generic"
)

// TwilioSettings are a workspace's Twilio account.
type TwilioSettings struct {
	AccountSID string `json:"account_sid"`
	AuthToken  string `json:"-"`
}

type twilioSecret struct {
	AuthToken string `json:"auth_token"`
}

// Providers builds each workspace's SMS providers from its settings.
type Providers struct {
	DB           *store.DB
	TwilioAPIURL string
	Simulated    *simulated.Provider
	SendTimeout  time.Duration
	Carriers     *Carriers // SMPP and Kannel; nil: not available

	mu     sync.Mutex
	twilio map[string]cachedSender // by workspace
}

type cachedSender struct {
	updated time.Time
	sender  sms.Provider
}

// ErrNotConfigured means the workspace has not set up the provider.
var ErrNotConfigured = errors.New("the SMS provider is not configured")

// For returns the named provider for a workspace.
func (p *Providers) For(ctx context.Context, workspaceID, name string) (sms.Provider, error) {
	switch name {
	case ProviderSimulated:
		return p.Simulated, nil
	case ProviderTwilio:
		return p.twilioFor(ctx, workspaceID)
	case ProviderSMPP, ProviderKannel:
		if p.Carriers != nil {
			return p.Carriers.For(ctx, workspaceID, name)
		}
	}
	return nil, fmt.Errorf("%w: unknown provider %q", ErrNotConfigured, name)
}

func (p *Providers) twilioFor(ctx context.Context, workspaceID string) (sms.Provider, error) {
	ps, err := p.DB.R().GetProviderSettings(ctx, workspaceID, ProviderTwilio)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: add the Twilio account SID and auth token in Calls → Settings", ErrNotConfigured)
	}
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.twilio[workspaceID]; ok && c.updated.Equal(ps.UpdatedAt) {
		return c.sender, nil
	}
	ts, err := decodeTwilio(ps)
	if err != nil {
		return nil, err
	}
	sender, err := twilio.NewSender(twilio.Config{AccountSID: ts.AccountSID, AuthToken: ts.AuthToken, APIURL: p.TwilioAPIURL, Timeout: p.SendTimeout})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotConfigured, err)
	}
	if p.twilio == nil {
		p.twilio = map[string]cachedSender{}
	}
	p.twilio[workspaceID] = cachedSender{ps.UpdatedAt, sender}
	return sender, nil
}

func decodeTwilio(ps *store.ProviderSettings) (*TwilioSettings, error) {
	var ts TwilioSettings
	var sec twilioSecret
	if err := json.Unmarshal([]byte(ps.Config), &ts); err != nil {
		return nil, fmt.Errorf("error reading Twilio settings: %w", err)
	}
	if err := json.Unmarshal([]byte(ps.Secret), &sec); err != nil {
		return nil, fmt.Errorf("error reading Twilio settings: %w", err)
	}
	ts.AuthToken = sec.AuthToken
	return &ts, nil
}

// TwilioSettings returns a workspace's Twilio account, or ErrNotFound.
func (s *Service) TwilioSettings(ctx context.Context, workspaceID string) (*TwilioSettings, error) {
	ps, err := s.DB.R().GetProviderSettings(ctx, workspaceID, ProviderTwilio)
	if err != nil {
		return nil, err
	}
	return decodeTwilio(ps)
}

// SetTwilioSettings stores a workspace's Twilio account.
func (s *Service) SetTwilioSettings(ctx context.Context, workspaceID string, ts TwilioSettings) error {
	if !validSID(ts.AccountSID) {
		return invalid("account_sid", "The account SID is AC followed by 32 hexadecimal characters.")
	}
	if len(ts.AuthToken) < 16 || len(ts.AuthToken) > 128 || !alnum(ts.AuthToken) {
		return invalid("auth_token", "The auth token looks wrong: copy it from the Twilio console.")
	}
	cfg, _ := json.Marshal(ts)
	sec, _ := json.Marshal(twilioSecret{AuthToken: ts.AuthToken})
	return s.DB.Q().PutProviderSettings(ctx, &store.ProviderSettings{WorkspaceID: workspaceID, Provider: ProviderTwilio, Config: string(cfg), Secret: string(sec)})
}

func validSID(s string) bool {
	if len(s) != 34 || s[:2] != "AC" {
		return false
	}
	for _, c := range s[2:] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func alnum(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
