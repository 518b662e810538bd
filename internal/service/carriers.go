package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/textback/textback/internal/phone"
	"github.com/textback/textback/internal/providers/kannel"
	"github.com/textback/textback/internal/providers/smpp"
	"github.com/textback/textback/internal/sms"
	"github.com/textback/textback/internal/store"
)

// SMS gateways a workspace runs or rents itself.
const (
	ProviderSMPP   = smpp.Name
	ProviderKannel = kannel.Name
)

// Carriers are the SMPP binds and Kannel senders of every workspace. SMPP
// binds live as long as the process: Start opens one per workspace with SMPP
// settings, a settings change rebinds, and Stop unbinds.
type Carriers struct {
	svc *Service
	// Options tune the SMPP binds; set before Start.
	Options smpp.Options
	// Refresh is how often the SMPP settings are read again, to follow
	// changes made on other replicas [30s].
	Refresh time.Duration

	mu      sync.Mutex
	manager *smpp.Manager // nil until Start
	kannel  map[string]kannelSender
	stop    chan struct{}
	done    chan struct{}
}

type kannelSender struct {
	updated time.Time
	secret  string // the workspace's webhook secret the dlr-url token is made from
	sender  sms.Provider
}

// NewCarriers returns the carriers of svc's workspaces; Start opens the binds.
func NewCarriers(svc *Service) *Carriers {
	return &Carriers{svc: svc, kannel: map[string]kannelSender{}}
}

// Start binds every workspace's SMPP account and keeps following the settings.
func (c *Carriers) Start(ctx context.Context) error {
	c.mu.Lock()
	if c.manager != nil {
		c.mu.Unlock()
		return errors.New("carriers already started")
	}
	c.manager = smpp.NewManager(c, c.svc.Log, c.Options)
	c.stop, c.done = make(chan struct{}), make(chan struct{})
	refresh := c.Refresh
	if refresh <= 0 {
		refresh = 30 * time.Second
	}
	c.mu.Unlock()
	if err := c.Sync(ctx); err != nil {
		c.svc.Log.Error("error loading SMPP settings", "err", err)
	}
	go func() {
		defer close(c.done)
		t := time.NewTicker(refresh)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if err := c.Sync(ctx); err != nil {
					c.svc.Log.Error("error reloading SMPP settings", "err", err)
				}
				cancel()
			}
		}
	}()
	return nil
}

// Stop unbinds every SMPP account (up to ctx's deadline).
func (c *Carriers) Stop(ctx context.Context) error {
	c.mu.Lock()
	m, stop, done := c.manager, c.stop, c.done
	c.manager = nil
	c.mu.Unlock()
	if m == nil {
		return nil
	}
	close(stop)
	<-done
	return m.Close(ctx)
}

// smppManager is the running manager, nil before Start.
func (c *Carriers) smppManager() *smpp.Manager {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.manager
}

// Sync makes the binds match the stored SMPP settings.
func (c *Carriers) Sync(ctx context.Context) error {
	m := c.smppManager()
	if m == nil {
		return nil
	}
	all, err := c.svc.DB.Q().ListProviderSettings(ctx, ProviderSMPP)
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for i := range all {
		ss, err := decodeSMPP(&all[i])
		if err != nil {
			c.svc.Log.Error("bad SMPP settings", "workspace", all[i].WorkspaceID, "err", err)
			continue
		}
		keep[all[i].WorkspaceID] = true
		m.Configure(all[i].WorkspaceID, ss.account())
	}
	for _, k := range m.Keys() {
		if !keep[k] {
			m.Remove(k)
		}
	}
	return nil
}

// For returns a workspace's SMPP or Kannel provider.
func (c *Carriers) For(ctx context.Context, workspaceID, name string) (sms.Provider, error) {
	switch name {
	case ProviderSMPP:
		ss, err := c.svc.SMPPSettings(ctx, workspaceID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("%w: add the SMPP account in Calls → Settings", ErrNotConfigured)
		}
		if err != nil {
			return nil, err
		}
		m := c.smppManager()
		if m == nil {
			return nil, errors.New("SMPP is not running in this process")
		}
		m.Configure(workspaceID, ss.account()) // nothing to do unless the settings changed
		return m.Provider(workspaceID), nil
	case ProviderKannel:
		return c.kannelFor(ctx, workspaceID)
	}
	return nil, fmt.Errorf("%w: unknown provider %q", ErrNotConfigured, name)
}

func (c *Carriers) kannelFor(ctx context.Context, workspaceID string) (sms.Provider, error) {
	q := c.svc.DB.Q()
	ps, err := q.GetProviderSettings(ctx, workspaceID, ProviderKannel)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: add the Kannel sendsms URL, username and password in Calls → Settings", ErrNotConfigured)
	}
	if err != nil {
		return nil, err
	}
	ws, err := q.GetWorkspace(ctx, workspaceID)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if k, ok := c.kannel[workspaceID]; ok && k.updated.Equal(ps.UpdatedAt) && k.secret == ws.WebhookSecret {
		return k.sender, nil
	}
	ks, err := decodeKannel(ps)
	if err != nil {
		return nil, err
	}
	base, token := c.svc.kannelBase(workspaceID), kannel.Token(ws.WebhookSecret, workspaceID)
	sender, err := kannel.NewSender(kannel.Config{SendSMSURL: ks.SendSMSURL, Username: ks.Username, Password: ks.Password,
		Timeout: c.svc.Providers.SendTimeout, DLRURL: func(id string) string { return kannel.DLRURL(base, token, id) }})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotConfigured, err)
	}
	c.kannel[workspaceID] = kannelSender{updated: ps.UpdatedAt, secret: ws.WebhookSecret, sender: sender}
	return sender, nil
}

// Receipt applies an SMPP delivery receipt (smpp.Handler). The key is the
// workspace id. A message whose acceptance is not recorded yet counts as
// not found, so that the bind tries again shortly.
func (c *Carriers) Receipt(ctx context.Context, workspaceID string, r smpp.Receipt) (bool, error) {
	q := c.svc.DB.Q()
	var (
		m   *store.Message
		err error
	)
	if r.MessageID != "" {
		m, err = q.GetMessage(ctx, r.MessageID)
	} else {
		m, err = q.MessageByProviderID(ctx, ProviderSMPP, r.ProviderMessageID)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	case m.WorkspaceID != workspaceID || m.Provider != ProviderSMPP:
		c.svc.Log.Warn("SMPP receipt for another workspace's message ignored", "workspace", workspaceID, "provider_message_id", r.ProviderMessageID)
		return true, nil
	case m.Status == string(sms.StatusQueued) || m.Status == string(sms.StatusSending):
		return false, nil
	}
	return true, c.svc.UpdateMessageStatus(ctx, workspaceID, m.ID, ProviderSMPP, r.ProviderMessageID, r.Status, r.Error)
}

// Incoming takes an SMS from a handset that arrived over SMPP (smpp.Handler):
// STOP and START keywords.
func (c *Carriers) Incoming(ctx context.Context, workspaceID string, in smpp.Incoming) error {
	_, err := c.svc.ReceiveSMS(ctx, workspaceID, InboundNumber(in.From, in.To), in.Text)
	return err
}

// InboundNumber turns the sender of an inbound SMS, as a gateway wrote it,
// into E.164: "+…" as it is; otherwise a national number in the region of
// the receiving tracking number, or else international digits without the
// "+" (the usual form on SMPP and Kannel). Anything else is returned as is.
func InboundNumber(from, to string) string {
	from = strings.TrimSpace(from)
	if from == "" || strings.HasPrefix(from, "+") {
		return from
	}
	ref := ""
	if n, err := phone.Normalize(to, ""); err == nil {
		ref = n
	} else if n, err := phone.Normalize("+"+strings.TrimPrefix(to, "+"), ""); err == nil {
		ref = n
	}
	if n, err := phone.Normalize(from, ref); err == nil {
		return n
	}
	if n, err := phone.Normalize("+"+from, ""); err == nil {
		return n
	}
	return from
}

// KannelReport applies a Kannel delivery report for one of the workspace's
// messages (type is Kannel's %d). Reports for unknown messages or messages
// sent another way are ignored.
func (s *Service) KannelReport(ctx context.Context, workspaceID, messageID string, report kannel.Report, answer string) error {
	if report.Status == "" {
		return nil
	}
	m, err := s.DB.Q().GetMessage(ctx, messageID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (m.WorkspaceID != workspaceID || m.Provider != ProviderKannel)) {
		s.Log.Warn("Kannel report for an unknown message", "workspace", workspaceID, "message", messageID)
		return nil
	}
	if err != nil {
		return err
	}
	if m.Status == string(sms.StatusQueued) || m.Status == string(sms.StatusSending) {
		// The report overtook the recording of Kannel's answer: a report
		// proves Kannel took the message, so record that now (the provider
		// id of a Kannel message is its own id). A retry of the send then
		// finds it handed over and does not send it again.
		if err := s.DB.Q().MarkAccepted(ctx, m.ID, m.ID, string(sms.StatusSent)); err != nil {
			return err
		}
	}
	errText := report.Error
	if errText != "" && strings.TrimSpace(answer) != "" {
		errText += ": " + truncate(strings.TrimSpace(answer), 200)
	}
	return s.UpdateMessageStatus(ctx, workspaceID, messageID, ProviderKannel, messageID, report.Status, errText)
}

// KannelURLs are where a workspace's Kannel calls back. DLR is the base of
// the dlr-url textback gives with each message (it adds message_id and
// Kannel's %d and %A); MO is the get-url of the sms-service to add to
// kannel.conf, ready to paste.
type KannelURLs struct{ DLR, MO string }

// KannelURLs builds a workspace's Kannel callback URLs with their token.
func (s *Service) KannelURLs(ws *store.Workspace) KannelURLs {
	base, token := s.kannelBase(ws.ID), kannel.Token(ws.WebhookSecret, ws.ID)
	return KannelURLs{DLR: base + "/dlr?token=" + token, MO: kannel.MOURL(base, token)}
}

func (s *Service) kannelBase(workspaceID string) string {
	return s.PublicURL + "/webhooks/kannel/" + workspaceID
}

// SMPPSettings are a workspace's SMPP account.
type SMPPSettings struct {
	Host         string `json:"host"`
	Port         int    `json:"port"`
	SystemID     string `json:"system_id"`
	Password     string `json:"-"`
	SystemType   string `json:"system_type"`
	MaxPerSecond int    `json:"max_per_second"`
}

type passwordSecret struct {
	Password string `json:"password"`
}

func (ss *SMPPSettings) account() smpp.Account {
	return smpp.Account{Host: ss.Host, Port: ss.Port, SystemID: ss.SystemID, Password: ss.Password, SystemType: ss.SystemType, MaxPerSecond: ss.MaxPerSecond}
}

// KannelSettings are a workspace's Kannel gateway.
type KannelSettings struct {
	SendSMSURL string `json:"sendsms_url"`
	Username   string `json:"username"`
	Password   string `json:"-"`
}

func decodeSMPP(ps *store.ProviderSettings) (*SMPPSettings, error) {
	var ss SMPPSettings
	var sec passwordSecret
	if err := errors.Join(json.Unmarshal([]byte(ps.Config), &ss), json.Unmarshal([]byte(ps.Secret), &sec)); err != nil {
		return nil, fmt.Errorf("error reading SMPP settings: %w", err)
	}
	ss.Password = sec.Password
	return &ss, nil
}

func decodeKannel(ps *store.ProviderSettings) (*KannelSettings, error) {
	var ks KannelSettings
	var sec passwordSecret
	if err := errors.Join(json.Unmarshal([]byte(ps.Config), &ks), json.Unmarshal([]byte(ps.Secret), &sec)); err != nil {
		return nil, fmt.Errorf("error reading Kannel settings: %w", err)
	}
	ks.Password = sec.Password
	return &ks, nil
}

// SMPPSettings returns a workspace's SMPP account, or ErrNotFound.
func (s *Service) SMPPSettings(ctx context.Context, workspaceID string) (*SMPPSettings, error) {
	ps, err := s.DB.R().GetProviderSettings(ctx, workspaceID, ProviderSMPP)
	if err != nil {
		return nil, err
	}
	return decodeSMPP(ps)
}

// KannelSettings returns a workspace's Kannel gateway, or ErrNotFound.
func (s *Service) KannelSettings(ctx context.Context, workspaceID string) (*KannelSettings, error) {
	ps, err := s.DB.R().GetProviderSettings(ctx, workspaceID, ProviderKannel)
	if err != nil {
		return nil, err
	}
	return decodeKannel(ps)
}

// SetSMPPSettings stores a workspace's SMPP account and rebinds. The
// password is write-only: an empty one keeps the stored password.
func (s *Service) SetSMPPSettings(ctx context.Context, workspaceID string, ss SMPPSettings) error {
	ss.Host, ss.SystemID, ss.SystemType = strings.TrimSpace(ss.Host), strings.TrimSpace(ss.SystemID), strings.TrimSpace(ss.SystemType)
	switch {
	case !validHost(ss.Host):
		return invalid("host", "Give the SMSC's host name or IP address, without a port or scheme.")
	case ss.Port < 1 || ss.Port > 65535:
		return invalid("port", "The port is a number from 1 to 65535 (SMPP usually listens on 2775).")
	case ss.SystemID == "" || len(ss.SystemID) > 64:
		return invalid("system_id", "Give the system ID the SMSC gave you (up to 64 characters).")
	case len(ss.Password) > 64:
		return invalid("password", "The password has at most 64 characters.")
	case len(ss.SystemType) > 12:
		return invalid("system_type", "The system type has at most 12 characters.")
	case ss.MaxPerSecond < 0 || ss.MaxPerSecond > 1000:
		return invalid("max_per_second", "The throughput limit is 1 to 1000 messages per second (0 for the default of 10).")
	}
	if ss.Password == "" {
		cur, err := s.SMPPSettings(ctx, workspaceID)
		if errors.Is(err, store.ErrNotFound) {
			return invalid("password", "Give the SMPP password.")
		}
		if err != nil {
			return err
		}
		ss.Password = cur.Password
	}
	cfg, _ := json.Marshal(ss)
	sec, _ := json.Marshal(passwordSecret{Password: ss.Password})
	if err := s.DB.Q().PutProviderSettings(ctx, &store.ProviderSettings{WorkspaceID: workspaceID, Provider: ProviderSMPP, Config: string(cfg), Secret: string(sec)}); err != nil {
		return err
	}
	if c := s.Providers.Carriers; c != nil {
		if m := c.smppManager(); m != nil {
			m.Configure(workspaceID, ss.account())
		}
	}
	return nil
}

// validHost accepts a host name or an IP address (IPv6 without brackets).
func validHost(h string) bool {
	if h == "" || len(h) > 253 || strings.ContainsAny(h, " \t/@[]") {
		return false
	}
	return !strings.Contains(h, ":") || net.ParseIP(h) != nil
}

// SetKannelSettings stores a workspace's Kannel gateway. The password is
// write-only: an empty one keeps the stored password.
func (s *Service) SetKannelSettings(ctx context.Context, workspaceID string, ks KannelSettings) error {
	ks.SendSMSURL, ks.Username = strings.TrimSpace(ks.SendSMSURL), strings.TrimSpace(ks.Username)
	if err := kannel.ValidateURL(ks.SendSMSURL); err != nil || len(ks.SendSMSURL) > 500 {
		return invalid("sendsms_url", "Give the address of Kannel's sendsms interface, e.g. http://kannel.example:13013/cgi-bin/sendsms.")
	}
	switch {
	case ks.Username == "" || len(ks.Username) > 100:
		return invalid("username", "Give the username of a sendsms-user group of kannel.conf.")
	case len(ks.Password) > 100:
		return invalid("password", "The password has at most 100 characters.")
	}
	if ks.Password == "" {
		cur, err := s.KannelSettings(ctx, workspaceID)
		if errors.Is(err, store.ErrNotFound) {
			return invalid("password", "Give the sendsms-user's password.")
		}
		if err != nil {
			return err
		}
		ks.Password = cur.Password
	}
	cfg, _ := json.Marshal(ks)
	sec, _ := json.Marshal(passwordSecret{Password: ks.Password})
	return s.DB.Q().PutProviderSettings(ctx, &store.ProviderSettings{WorkspaceID: workspaceID, Provider: ProviderKannel, Config: string(cfg), Secret: string(sec)})
}

// SMPPBound reports whether this process's bind for the workspace is up,
// and when it is not, why (nil while it has not tried yet).
func (s *Service) SMPPBound(workspaceID string) (bound bool, lastErr error) {
	if s.Providers == nil || s.Providers.Carriers == nil {
		return false, nil
	}
	m := s.Providers.Carriers.smppManager()
	if m == nil {
		return false, nil
	}
	_, bound, lastErr = m.Bound(workspaceID)
	return bound, lastErr
}
