package service

import (
	"sync"
	"time"

	"github.com/textback/textback/internal/store"
)

// providerHolds maps a message id to the time before which no attempt of
// it may reach the provider: the provider's Retry-After (a 429's). The
// in-process dispatch and the queue's job both honour it (worker.go).
var providerHolds sync.Map

func holdForProvider(id string, d time.Duration) {
	providerHolds.Store(id, time.Now().Add(d))
}

// providerHold says how long a send of message id must still wait.
func providerHold(id string) time.Duration {
	v, ok := providerHolds.Load(id)
	if !ok {
		return 0
	}
	left := time.Until(v.(time.Time))
	if left <= 0 {
		providerHolds.CompareAndDelete(id, v)
		return 0
	}
	return left
}

// processStart is when this process started.
var processStart = time.Now()

// claimedBeforeStart reports whether a sending message was claimed before
// this process started, on SQLite, where one process serves a database: the
// process that claimed it is dead, so no dispatch lease holds (after a
// kill -9 the job re-sends it at once instead of after dispatchLease).
func claimedBeforeStart(s *Service, m *store.Message) bool {
	return s.DB.Dialect.Name == "sqlite" && m.UpdatedAt.Before(processStart)
}
