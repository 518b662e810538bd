// Package smpptest is a fake SMSC for tests: an SMPP 3.4 server on
// loopback that accepts binds, answers submit_sm, sends delivery receipts
// and inbound SMS on demand, and records what it got.
package smpptest

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// Submit is one submit_sm the fake got.
type Submit struct {
	At                 time.Time
	ID                 string // the id the fake answered with ("" when refused)
	From, To           string
	FromTON, ToTON     byte
	EsmClass           byte
	DataCoding         byte
	RegisteredDelivery byte
	UDH                []byte // with its length byte; nil without UDHI
	Data               []byte // user data after the UDH
}

// Bind is one bind the fake accepted or refused.
type Bind struct {
	SystemID, Password, SystemType string
	Type                           string
}

// Server is the fake SMSC.
type Server struct {
	Addr string

	t  testing.TB
	ln net.Listener

	mu           sync.Mutex
	conns        map[*conn]bool
	submits      []Submit
	binds        []Bind
	enquires     int
	deliverResps []uint32 // command_status of each deliver_sm_resp
	next         int
	refuse       func(Submit) uint32 // command_status for a submit; 0 accepts
	password     string              // "" accepts any
	receipts     bool
	failWord     string
}

type conn struct {
	c  net.Conn
	mu sync.Mutex // writes
}

// New starts a fake SMSC on a free loopback port. It sends a DELIVRD receipt
// for every submit that asks for one (UNDELIV when the text contains
// "#fail"), like the kit's smppsim.pl.
func New(t testing.TB) *Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String(), t: t, ln: ln, conns: map[*conn]bool{}, receipts: true, failWord: "#fail"}
	go s.accept(ln)
	t.Cleanup(s.Close)
	return s
}

// Port is the fake's TCP port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// Refuse sets the command_status answered to each submit (0 accepts).
func (s *Server) Refuse(f func(Submit) uint32) { s.mu.Lock(); s.refuse = f; s.mu.Unlock() }

// RequirePassword makes binds with another password fail.
func (s *Server) RequirePassword(p string) { s.mu.Lock(); s.password = p; s.mu.Unlock() }

// AutoReceipts turns the automatic receipts on or off.
func (s *Server) AutoReceipts(on bool) { s.mu.Lock(); s.receipts = on; s.mu.Unlock() }

func (s *Server) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		cn := &conn{c: c}
		s.mu.Lock()
		s.conns[cn] = true
		s.mu.Unlock()
		go s.serve(cn)
	}
}

func (s *Server) serve(c *conn) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.c.Close()
	}()
	for {
		p, err := pdu.Parse(c.c)
		if err != nil {
			return
		}
		switch p := p.(type) {
		case *pdu.BindRequest:
			s.mu.Lock()
			s.binds = append(s.binds, Bind{SystemID: p.SystemID, Password: p.Password, SystemType: p.SystemType, Type: fmt.Sprint(p.BindingType)})
			bad := s.password != "" && p.Password != s.password
			s.mu.Unlock()
			r := p.GetResponse().(*pdu.BindResp)
			r.SystemID = "FAKESMSC"
			if bad {
				r.CommandStatus = data.ESME_RINVPASWD
			}
			s.write(c, r)
			if bad {
				return
			}
		case *pdu.SubmitSM:
			s.submit(c, p)
		case *pdu.EnquireLink:
			s.mu.Lock()
			s.enquires++
			s.mu.Unlock()
			s.write(c, p.GetResponse())
		case *pdu.DeliverSMResp:
			s.mu.Lock()
			s.deliverResps = append(s.deliverResps, uint32(p.CommandStatus))
			s.mu.Unlock()
		case *pdu.Unbind:
			s.write(c, p.GetResponse())
			return
		}
	}
}

func (s *Server) submit(c *conn, p *pdu.SubmitSM) {
	sub := Submit{At: time.Now(), From: p.SourceAddr.Address(), To: p.DestAddr.Address(), FromTON: p.SourceAddr.Ton(), ToTON: p.DestAddr.Ton(),
		EsmClass: p.EsmClass, RegisteredDelivery: p.RegisteredDelivery}
	if enc := p.Message.Encoding(); enc != nil {
		sub.DataCoding = enc.DataCoding()
	}
	sub.Data, _ = p.Message.GetMessageData()
	if udh := p.Message.UDH(); udh != nil {
		sub.UDH, _ = udh.MarshalBinary()
	}
	s.mu.Lock()
	var status uint32
	if s.refuse != nil {
		status = s.refuse(sub)
	}
	if status == 0 {
		s.next++
		sub.ID = fmt.Sprintf("m%04d", s.next)
	}
	s.submits = append(s.submits, sub)
	receipt := s.receipts && status == 0 && p.RegisteredDelivery&1 == 1
	fail := s.failWord != "" && contains(sub.Data, s.failWord)
	s.mu.Unlock()
	r := p.GetResponse().(*pdu.SubmitSMResp)
	r.MessageID = sub.ID
	r.CommandStatus = data.CommandStatusType(status)
	s.write(c, r)
	if receipt {
		stat := "DELIVRD"
		if fail {
			stat = "UNDELIV"
		}
		go func() {
			time.Sleep(20 * time.Millisecond)
			s.write(c, Receipt(sub.ID, stat, sub.To, sub.From))
		}()
	}
}

func contains(b []byte, w string) bool {
	return len(w) > 0 && strings.Contains(string(b), w)
}

// Receipt builds a receipt deliver_sm as smppsim.pl sends it: SMPP 3.4
// appendix B text plus the receipted_message_id and message_state TLVs.
func Receipt(id, stat, from, to string) *pdu.DeliverSM {
	d := pdu.NewDeliverSM().(*pdu.DeliverSM)
	_ = d.SourceAddr.SetAddress(from)
	_ = d.DestAddr.SetAddress(to)
	d.EsmClass = 0x04
	now := time.Now().Format("0601021504")
	text := fmt.Sprintf("id:%s sub:001 dlvrd:001 submit date:%s done date:%s stat:%s err:000 text:", id, now, now, stat)
	_ = d.Message.SetMessageDataWithEncoding([]byte(text), data.GSM7BIT)
	state := byte(2)
	if stat != "DELIVRD" {
		state = 5
	}
	d.RegisterOptionalParam(pdu.Field{Tag: pdu.TagReceiptedMessageID, Data: append([]byte(id), 0)})
	d.RegisterOptionalParam(pdu.Field{Tag: pdu.TagMessageStateOption, Data: []byte{state}})
	return d
}

// MO builds a handset's SMS: from as an international number, GSM-7 text.
func MO(from, to, text string) *pdu.DeliverSM {
	d := pdu.NewDeliverSM().(*pdu.DeliverSM)
	d.SourceAddr, _ = pdu.NewAddressWithTonNpiAddr(data.GSM_TON_INTERNATIONAL, data.GSM_NPI_E164, from)
	d.DestAddr, _ = pdu.NewAddressWithTonNpiAddr(data.GSM_TON_INTERNATIONAL, data.GSM_NPI_E164, to)
	_ = d.Message.SetMessageWithEncoding(text, data.GSM7BIT)
	return d
}

// Deliver sends a deliver_sm on every bound connection.
func (s *Server) Deliver(d *pdu.DeliverSM) {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		d.AssignSequenceNumber()
		s.write(c, d)
	}
}

func (s *Server) write(c *conn, p pdu.PDU) {
	buf := pdu.NewBuffer(nil)
	p.Marshal(buf)
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _ = c.c.Write(buf.Bytes())
}

// WriteRaw sends bytes as they are on every connection (a PDU a real SMSC
// would not send, say).
func (s *Server) WriteRaw(b []byte) {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.mu.Lock()
		_, _ = c.c.Write(b)
		c.mu.Unlock()
	}
}

// Drop closes every connection, as an SMSC restart would.
func (s *Server) Drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.c.Close()
	}
}

// Stop closes the listener and every connection: the SMSC is down.
func (s *Server) Stop() {
	s.ln.Close()
	s.Drop()
}

// Restart listens again on the same port after Stop.
func (s *Server) Restart() {
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		s.t.Fatalf("smpptest: listening again on %s: %v", s.Addr, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	go s.accept(ln)
}

// Close stops the fake for good.
func (s *Server) Close() { s.Stop() }

// Submits returns the submit_sm PDUs got so far.
func (s *Server) Submits() []Submit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Submit(nil), s.submits...)
}

// Binds returns the binds got so far.
func (s *Server) Binds() []Bind {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Bind(nil), s.binds...)
}

// Connections is the number of open connections.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// EnquireLinks is the number of enquire_link PDUs got.
func (s *Server) EnquireLinks() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.enquires
}

// DeliverResps are the command statuses of the deliver_sm_resp PDUs got.
func (s *Server) DeliverResps() []uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint32(nil), s.deliverResps...)
}
