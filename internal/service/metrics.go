package service

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the counters textback exports on /metrics.
type Metrics struct {
	CallEvents  *prometheus.CounterVec   // by provider and result
	Autoreplies *prometheus.CounterVec   // by decision and reason
	Sends       *prometheus.CounterVec   // by provider and result
	SendLatency *prometheus.HistogramVec // provider call duration
	QueueDelay  prometheus.Histogram     // message created → handed to the provider
}

// NewMetrics registers textback's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		CallEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "textback_call_events_total", Help: "Call events received, by provider and result.",
		}, []string{"provider", "result"}),
		Autoreplies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "textback_autoreplies_total", Help: "Autoreply decisions for missed calls, by decision and reason.",
		}, []string{"decision", "reason"}),
		Sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "textback_sms_sends_total", Help: "SMS send attempts, by provider and result (accepted, retry, rejected, failed).",
		}, []string{"provider", "result"}),
		SendLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "textback_sms_send_seconds", Help: "Time the provider took to answer a send.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"provider"}),
		QueueDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "textback_sms_queue_delay_seconds", Help: "Time from a message being stored to it being handed to the provider.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
	}
	reg.MustRegister(m.CallEvents, m.Autoreplies, m.Sends, m.SendLatency, m.QueueDelay)
	return m
}
