package smpp

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"

	"github.com/textback/textback/internal/sms"
)

// esm_class message types (bits 2-5) of a deliver_sm.
const (
	esmTypeMask         = 0x3C
	esmSMSCReceipt      = 0x04
	esmIntermediateNote = 0x20
)

// isReceipt reports whether a deliver_sm carries a delivery receipt (or an
// intermediate notification) rather than a handset's SMS. SME acks (0x08,
// 0x10) are neither: they are acknowledged and dropped.
func isReceipt(esmClass byte) bool {
	t := esmClass & esmTypeMask
	return t&esmSMSCReceipt != 0 || t&esmIntermediateNote != 0
}

func isMO(esmClass byte) bool { return esmClass&esmTypeMask == 0 }

var (
	receiptID   = regexp.MustCompile(`(?i)(?:^|\s)id:\s*(\S+)`)
	receiptStat = regexp.MustCompile(`(?i)(?:^|\s)stat:\s*(\S+)`)
	receiptErr  = regexp.MustCompile(`(?i)(?:^|\s)err:\s*(\S+)`)
)

// parsedReceipt is what a receipt says.
type parsedReceipt struct {
	IDs    []string // the SMSC's message id, then other spellings of it
	Status sms.Status
	Stat   string // e.g. DELIVRD
	Err    string // the err: field or the network_error_code TLV
}

// parseReceipt reads a receipt deliver_sm: the receipted_message_id and
// message_state TLVs when present (SMPP 3.4), else the "id:... stat:..."
// text of SMPP 3.4 appendix B. ok is false if no message id is found.
// Status is "" for states that change nothing (unknown).
func parseReceipt(d *pdu.DeliverSM) (r parsedReceipt, ok bool) {
	text := string(rawText(d))
	if f, found := d.OptionalParameters[pdu.TagReceiptedMessageID]; found {
		if id := strings.TrimSpace(f.String()); id != "" { // all blanks names no message
			r.IDs = append(r.IDs, id)
		}
	}
	if m := receiptID.FindStringSubmatch(text); m != nil {
		r.IDs = appendNew(r.IDs, m[1])
	}
	if len(r.IDs) == 0 {
		return r, false
	}
	// Some SMSCs give the id in decimal in the text and in hex in
	// submit_sm_resp (or the other way round): try the other spelling too.
	for _, id := range append([]string(nil), r.IDs...) {
		if n, err := strconv.ParseUint(id, 10, 64); err == nil {
			r.IDs = appendNew(r.IDs, strconv.FormatUint(n, 16))
		} else if n, err := strconv.ParseUint(id, 16, 64); err == nil {
			r.IDs = appendNew(r.IDs, strconv.FormatUint(n, 10))
		}
	}
	if m := receiptStat.FindStringSubmatch(text); m != nil {
		r.Stat = strings.ToUpper(m[1])
	}
	if m := receiptErr.FindStringSubmatch(text); m != nil {
		r.Err = m[1]
	}
	if f, found := d.OptionalParameters[pdu.TagNetworkErrorCode]; found && len(f.Data) == 3 && r.Err == "" {
		r.Err = strconv.Itoa(int(f.Data[1])<<8 | int(f.Data[2]))
	}
	r.Status = statStatus(r.Stat)
	if f, found := d.OptionalParameters[pdu.TagMessageStateOption]; found && len(f.Data) == 1 {
		if st, known := messageState(f.Data[0]); known {
			r.Status = st
			if r.Stat == "" {
				r.Stat = stateNames[f.Data[0]]
			}
		}
	}
	return r, true
}

func appendNew(ids []string, id string) []string {
	for _, x := range ids {
		if x == id {
			return ids
		}
	}
	return append(ids, id)
}

// statStatus maps the receipt text's stat: field.
func statStatus(stat string) sms.Status {
	switch stat {
	case "DELIVRD":
		return sms.StatusDelivered
	case "EXPIRED", "DELETED", "UNDELIV", "REJECTD":
		// The SMSC took the message and could not deliver it: not a
		// rejection at submission, so no refund.
		return sms.StatusUndelivered
	case "ACCEPTD", "ENROUTE":
		return sms.StatusSent
	}
	return ""
}

var stateNames = map[byte]string{1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED", 5: "UNDELIV", 6: "ACCEPTD", 7: "UNKNOWN", 8: "REJECTD"}

// messageState maps the message_state TLV (SMPP 3.4 §5.2.28).
func messageState(s byte) (sms.Status, bool) {
	switch s {
	case 2:
		return sms.StatusDelivered, true
	case 3, 4, 5, 8:
		return sms.StatusUndelivered, true
	case 1, 6:
		return sms.StatusSent, true
	}
	return "", false
}

// rawText is a deliver_sm's user data without UDH: short_message, or the
// message_payload TLV when short_message is empty.
func rawText(d *pdu.DeliverSM) []byte {
	b, _ := d.Message.GetMessageData()
	if len(b) == 0 {
		if f, ok := d.OptionalParameters[pdu.TagMessagePayload]; ok {
			b = f.Data
		}
	}
	return b
}

// moText decodes a handset's SMS by its data_coding.
func moText(d *pdu.DeliverSM) string {
	b := rawText(d)
	coding := byte(data.GSM7BITCoding)
	if enc := d.Message.Encoding(); enc != nil {
		coding = enc.DataCoding()
	}
	switch coding {
	case data.GSM7BITCoding:
		return sms.DecodeGSM7(b)
	case data.UCS2Coding:
		return sms.DecodeUCS2(b)
	case data.LATIN1Coding:
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		return string(r)
	}
	return string(b) // IA5/ASCII and anything else: bytes as they are
}

// moNumber writes an address as E.164 when its TON says international.
func moNumber(a pdu.Address) string {
	n := strings.TrimSpace(a.Address())
	if a.Ton() == data.GSM_TON_INTERNATIONAL && n != "" && !strings.HasPrefix(n, "+") {
		return "+" + n
	}
	return n
}
