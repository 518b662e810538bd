package smpp

import (
	"testing"

	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// deliverSM marshals a deliver_sm as an SMSC sends it, for seeds.
func deliverSM(esm byte, text string, enc data.Encoding, tlvs ...pdu.Field) []byte {
	d := pdu.NewDeliverSM().(*pdu.DeliverSM)
	d.EsmClass = esm
	_ = d.Message.SetMessageWithEncoding(text, enc)
	_ = d.SourceAddr.SetAddress("14155550123")
	d.SourceAddr.SetTon(data.GSM_TON_INTERNATIONAL)
	for _, f := range tlvs {
		d.RegisterOptionalParam(f)
	}
	b := pdu.NewBuffer(nil)
	d.Marshal(b)
	return b.Bytes()
}

// FuzzDeliverSM feeds arbitrary bytes, as read from an SMSC's socket, to
// gosmpp's PDU parser and then to textback's receipt and inbound-SMS
// readers: nothing may panic, and a receipt always names a message id.
func FuzzDeliverSM(f *testing.F) {
	f.Add(deliverSM(0x04, "id:0A1B2C sub:001 dlvrd:001 submit date:2612031200 done date:2612031201 stat:DELIVRD err:000 text:Hello", data.GSM7BIT))
	f.Add(deliverSM(0x04, "", data.GSM7BIT,
		pdu.Field{Tag: pdu.TagReceiptedMessageID, Data: []byte("12345\x00")},
		pdu.Field{Tag: pdu.TagMessageStateOption, Data: []byte{5}},
		pdu.Field{Tag: pdu.TagNetworkErrorCode, Data: []byte{3, 0, 1}}))
	f.Add(deliverSM(0x20, "id:42 stat:ENROUTE", data.GSM7BIT))
	f.Add(deliverSM(0x00, "STOP", data.GSM7BIT))
	f.Add(deliverSM(0x00, "Arrêt 😀", data.UCS2))
	f.Add(deliverSM(0x00, "", data.GSM7BIT, pdu.Field{Tag: pdu.TagMessagePayload, Data: []byte("STOP")}))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := parsePDU(raw) // the bind's reader drops what makes gosmpp's parser panic (guard.go)
		if err != nil {
			return
		}
		d, ok := p.(*pdu.DeliverSM)
		if !ok {
			return
		}
		if isReceipt(d.EsmClass) {
			if r, ok := parseReceipt(d); ok && (len(r.IDs) == 0 || r.IDs[0] == "") {
				t.Fatalf("receipt without a message id: %+v", r)
			}
		}
		if isMO(d.EsmClass) {
			_ = moText(d)
			_ = moNumber(d.SourceAddr)
		}
	})
}
