package smpp

import (
	"strconv"
	"sync"

	"github.com/textback/textback/internal/sms"
)

// sentParts remembers the SMSC ids of the parts of recently sent messages,
// so that the receipts of a long message are read together: it is
// delivered when every part is, undelivered as soon as one part is not.
// Memory only: after a restart, a receipt is matched by the id stored with
// the message (its first part's), and other parts' receipts are ignored.
type sentParts struct {
	mu     sync.Mutex
	byPart map[string]*sentMessage
	order  []string // part ids, oldest first, to forget the oldest
	max    int
}

type sentMessage struct {
	messageID string
	ids       []string              // the SMSC's id of each part, in order
	final     map[string]sms.Status // part id → its final status
	done      bool
}

func newSentParts(max int) *sentParts {
	return &sentParts{byPart: map[string]*sentMessage{}, max: max}
}

// start remembers a message about to be sent in total parts.
func (s *sentParts) start(messageID string, total int) *sentMessage {
	return &sentMessage{messageID: messageID, ids: make([]string, total), final: map[string]sms.Status{}}
}

// setPart records the SMSC's id of part i of m.
func (s *sentParts) setPart(m *sentMessage, i int, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m.ids[i] = id
	s.byPart[id] = m
	s.order = append(s.order, id)
	for len(s.order) > s.max {
		delete(s.byPart, s.order[0])
		s.order = s.order[1:]
	}
}

// record notes a part's final status. known is false when no remembered
// message has this part; complete says the message's status is now decided
// (status and errText are then the message's).
func (s *sentParts) record(ids []string, st sms.Status, errText string) (m *sentMessage, status sms.Status, text string, complete, known bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var id string
	for _, id = range ids {
		if m = s.byPart[id]; m != nil {
			break
		}
	}
	if m == nil {
		return nil, "", "", false, false
	}
	if m.done {
		return m, "", "", false, true // decided already: a repeated or late receipt
	}
	m.final[id] = st
	if st != sms.StatusDelivered {
		m.done = true
		if len(m.ids) > 1 {
			errText = "part " + strconv.Itoa(partIndex(m.ids, id)+1) + " of " + strconv.Itoa(len(m.ids)) + ": " + errText
		}
		return m, st, errText, true, true
	}
	if len(m.final) < len(m.ids) {
		return m, "", "", false, true
	}
	m.done = true
	return m, sms.StatusDelivered, "", true, true
}

func partIndex(ids []string, id string) int {
	for i, x := range ids {
		if x == id {
			return i
		}
	}
	return 0
}
