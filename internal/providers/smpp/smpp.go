// Package smpp sends SMS over SMPP 3.4 (github.com/linxGnu/gosmpp) and
// takes what the SMSC sends back: delivery receipts and inbound SMS.
//
// A Manager keeps one persistent transceiver bind per account (per
// workspace), with enquire_link keep-alives, reconnection with backoff and a
// throughput limit. Bodies are split and encoded by textback's own segment
// counter (sms.Parts), not gosmpp's splitter, so the parts handed to the
// SMSC are the segments the workspace was billed for: GSM-7 (data_coding 0,
// the GSM 03.38 default alphabet, one septet per octet) or UCS-2
// (data_coding 8), concatenated with an 8-bit-reference UDH when longer than
// one SMS.
package smpp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/textback/textback/internal/sms"
)

// Name is the provider name used in tracking numbers and messages.
const Name = "smpp"

// Account is one SMPP account at an SMSC.
type Account struct {
	Host       string
	Port       int
	SystemID   string
	Password   string
	SystemType string
	// MaxPerSecond bounds submit_sm PDUs per second on the bind (each part
	// of a long message is one); 0 means DefaultMaxPerSecond.
	MaxPerSecond int
}

// DefaultMaxPerSecond is the throughput limit of an account that sets none.
const DefaultMaxPerSecond = 10

// Addr is host:port.
func (a Account) Addr() string { return net.JoinHostPort(a.Host, strconv.Itoa(a.Port)) }

func (a Account) rate() int {
	if a.MaxPerSecond <= 0 {
		return DefaultMaxPerSecond
	}
	return a.MaxPerSecond
}

// Receipt is a delivery receipt for one message.
type Receipt struct {
	// MessageID is textback's id of the message when the bind knows it (it
	// sent the message); "" otherwise: then ProviderMessageID identifies it.
	MessageID         string
	ProviderMessageID string // the SMSC's id, as submit_sm_resp gave it for the first part
	Status            sms.Status
	Error             string // the receipt's stat and err fields when not delivered
}

// Incoming is an SMS from a handset (a mobile-originated deliver_sm).
type Incoming struct {
	From string // E.164 with "+" when the SMSC said the number is international
	To   string
	Text string
}

// Handler takes what arrives on a bind; key says which account it came on.
// Both are called from the bind's reader: they should return quickly.
type Handler interface {
	// Receipt applies a delivery receipt. It returns found=false when the
	// message is not known (yet): the bind tries again a few times, since a
	// receipt can overtake the recording of the message's acceptance.
	Receipt(ctx context.Context, key string, r Receipt) (found bool, err error)
	// Incoming handles an inbound SMS. An error makes the bind answer the
	// SMSC with a temporary error, so that it delivers the SMS again.
	Incoming(ctx context.Context, key string, in Incoming) error
}

// Options tune a Manager; zero values take the defaults in brackets.
type Options struct {
	EnquireLink     time.Duration // keep-alive interval [30s]
	ResponseTimeout time.Duration // how long a submit_sm waits for its response [10s]
	BindWait        time.Duration // how long Send waits for a bind that is down [5s]
	ReconnectMin    time.Duration // first reconnect delay, doubling [250ms]
	ReconnectMax    time.Duration // [30s]
	DialTimeout     time.Duration // TCP connect and bind [10s]
	// ReceiptRetries are the delays between attempts to apply a receipt
	// whose message is not found yet [250ms, 500ms, 1s, 2s, 4s].
	ReceiptRetries []time.Duration
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.EnquireLink, 30*time.Second)
	def(&o.ResponseTimeout, 10*time.Second)
	def(&o.BindWait, 5*time.Second)
	def(&o.ReconnectMin, 250*time.Millisecond)
	def(&o.ReconnectMax, 30*time.Second)
	def(&o.DialTimeout, 10*time.Second)
	if o.ReceiptRetries == nil {
		o.ReceiptRetries = []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second}
	}
}

// Errors of Send, wrapped in *sms.SendError.
var (
	ErrNotBound = errors.New("smpp: the bind to the SMSC is down")
	ErrClosed   = errors.New("smpp: the provider is shut down")
)

// commandStatusError is an SMSC's non-zero command_status.
type commandStatusError struct {
	op     string
	status uint32
}

func (e *commandStatusError) Error() string {
	return fmt.Sprintf("%s: SMSC answered command_status 0x%08X (%s)", e.op, e.status, statusText(e.status))
}

// statusText names the command statuses an SMSC commonly answers.
func statusText(s uint32) string {
	switch s {
	case 0x01:
		return "invalid message length"
	case 0x03:
		return "invalid command"
	case 0x08:
		return "system error"
	case 0x0A:
		return "invalid source address"
	case 0x0B:
		return "invalid destination address"
	case 0x0D:
		return "bind failed"
	case 0x0E:
		return "invalid password"
	case 0x0F:
		return "invalid system id"
	case 0x14:
		return "message queue full"
	case 0x45:
		return "submit failed"
	case 0x58:
		return "throttled"
	case 0x61:
		return "invalid scheduled delivery time"
	case 0x62:
		return "invalid validity period"
	case 0x64:
		return "temporary application error"
	}
	return "see the SMSC's documentation"
}

// transientStatus reports command statuses after which the same submit may
// succeed later: the SMSC did not take the message.
func transientStatus(s uint32) bool {
	switch s {
	case 0x08, 0x14, 0x58, 0x64: // system error, queue full, throttled, temporary error
		return true
	}
	return false
}
