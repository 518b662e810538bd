package service

import (
	"sync"
	"time"
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
