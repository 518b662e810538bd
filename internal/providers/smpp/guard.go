package smpp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// errBadPDU is a PDU gosmpp cannot parse without panicking.
var errBadPDU = errors.New("smpp: a PDU the parser cannot read")

// parsePDU is gosmpp's pdu.Parse with its panics turned into errBadPDU:
// v0.3.1 panics on some well-framed PDUs (a query_sm carrying optional
// parameters writes to a nil map).
func parsePDU(raw []byte) (p pdu.PDU, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("%w: %v", errBadPDU, r)
		}
	}()
	return pdu.Parse(bytes.NewReader(raw))
}

// guardConn stands between the SMSC's socket and gosmpp's reader: it reads
// one whole PDU at a time and tries to parse it first, so that a PDU that
// would make gosmpp's parser panic — in gosmpp's read goroutine, which has
// no recover: the whole process would stop — is dropped and logged
// instead. Well-formed PDUs, and malformed ones gosmpp rejects with an
// error, pass through unchanged.
type guardConn struct {
	net.Conn
	log     *slog.Logger
	pending []byte // checked bytes gosmpp has not read yet
}

func (c *guardConn) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		var header [16]byte
		if _, err := io.ReadFull(c.Conn, header[:]); err != nil {
			return 0, err
		}
		n := binary.BigEndian.Uint32(header[:4])
		if n < 16 || n > data.MAX_PDU_LEN {
			c.pending = header[:] // gosmpp refuses the length and drops the connection
			break
		}
		whole := make([]byte, n)
		copy(whole, header[:])
		if _, err := io.ReadFull(c.Conn, whole[16:]); err != nil {
			return 0, err
		}
		if _, err := parsePDU(whole); errors.Is(err, errBadPDU) {
			c.log.Warn("smpp: dropped a PDU from the SMSC that the parser cannot read",
				"command_id", fmt.Sprintf("0x%08X", binary.BigEndian.Uint32(header[4:8])), "err", err)
			continue
		}
		c.pending = whole
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}
