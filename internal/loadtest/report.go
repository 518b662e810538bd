package loadtest

import (
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Step is one run of a report.
type Step struct {
	Name   string     `json:"name"`
	Result *Result    `json:"result"`
	Server *ProcStats `json:"server,omitempty"` // during the run, summed over replicas: CPU seconds used, peak RSS (largest)
}

// Report is everything one invocation measured.
type Report struct {
	Database     string       `json:"database"`
	Replicas     int          `json:"replicas"`
	Mix          Mix          `json:"mix"`
	LoadAverage  string       `json:"machine_load_average"` // /proc/loadavg when the runs ended: this machine is shared
	Cores        int          `json:"cores"`
	StartupMS    float64      `json:"startup_ms,omitempty"`
	IdleRSSMB    float64      `json:"idle_rss_mb,omitempty"`
	Limit        *LimitResult `json:"limit,omitempty"`
	LimitFull    *LimitResult `json:"limit_synchronous_full,omitempty"` // SQLite: the same with synchronous=FULL, for comparison
	Steps        []Step       `json:"steps"`
	MaxSMSPerSec float64      `json:"max_sms_per_second"`
	RatioToLimit float64      `json:"pipeline_to_limit_ratio,omitempty"` // SMS/s at the highest load ÷ bare commits/s
	AllCorrect   bool         `json:"counts_correct"`
}

func (rep *Report) finish() {
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			rep.LoadAverage = strings.Join(f[:3], " ")
		}
	}
	rep.Cores = runtime.NumCPU()
	rep.AllCorrect = true
	for _, s := range rep.Steps {
		rep.MaxSMSPerSec = max(rep.MaxSMSPerSec, s.Result.SMSPerSec)
		rep.AllCorrect = rep.AllCorrect && s.Result.Correct
	}
	if rep.Limit != nil && rep.Limit.CommitsPerSec > 0 {
		rep.RatioToLimit = rep.MaxSMSPerSec / rep.Limit.CommitsPerSec
	}
}

// WriteText prints the report as a table.
func (rep *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "textback load test: %s, %d replica(s); mix: answered %.0f%%, duplicates %.0f%%, withheld %.0f%%, via Twilio %.0f%%\n",
		rep.Database, rep.Replicas, rep.Mix.Answered*100, rep.Mix.Duplicates*100, rep.Mix.Withheld*100, rep.Mix.Twilio*100)
	if rep.StartupMS > 0 {
		fmt.Fprintf(w, "server: start-up %.0f ms (exec to /readyz), idle RSS %.1f MB\n", rep.StartupMS, rep.IdleRSSMB)
	}
	if l := rep.Limit; l != nil {
		sync := ""
		if l.Synchronous != "" {
			sync = ", synchronous=" + l.Synchronous
		}
		fmt.Fprintf(w, "limit: %.0f bare commits/s (%d rows per transaction, %d writer(s)%s, %.2f ms per transaction)\n",
			l.CommitsPerSec, l.RowsPerTx, l.Writers, sync, l.MeanCommitMS)
	}
	if l := rep.LimitFull; l != nil {
		fmt.Fprintf(w, "limit with synchronous=FULL (not textback's setting): %.0f bare commits/s, %.2f ms per transaction\n", l.CommitsPerSec, l.MeanCommitMS)
	}
	fmt.Fprintf(w, "machine: %d cores, load average %s (at the end)\n\n", rep.Cores, rep.LoadAverage)
	fmt.Fprintf(w, "%-14s %9s %9s %7s %7s %7s %7s %8s %7s %7s %6s %8s  %s\n", "run", "webhooks", "hooks/s", "SMS", "SMS/s",
		"p50 ms", "p95 ms", "p99 ms", "max ms", "CPU s", "RSS MB", "resp p99", "counts / errors")
	for _, s := range rep.Steps {
		r := s.Result
		cpu, rss := "-", "-"
		if s.Server != nil {
			cpu, rss = fmt.Sprintf("%.1f", s.Server.CPUSeconds), fmt.Sprintf("%.0f", s.Server.PeakRSSMB)
		}
		check := "ok"
		if !r.Correct {
			check = fmt.Sprintf("WRONG: missed calls %d, SMS %d, missing %d, twice %d, unexpected %d", r.MissedCalls, r.SMS, r.Missing, r.Duplicates, r.Unexpected)
		}
		if len(r.Errors) > 0 {
			var es []string
			for k, v := range r.Errors {
				es = append(es, fmt.Sprintf("%s=%d", k, v))
			}
			sort.Strings(es)
			check += "; errors " + strings.Join(es, " ")
		}
		fmt.Fprintf(w, "%-14s %9d %9.0f %7d %7.0f %7.1f %7.1f %8.1f %7.1f %7s %6s %8.1f  %s\n", s.Name, r.Accepted, r.WebhooksPerSec, r.SMS, r.SMSPerSec,
			r.Latency.P50, r.Latency.P95, r.Latency.P99, r.Latency.Max, cpu, rss, r.ResponseTime.P99, check)
	}
	if rep.RatioToLimit > 0 {
		fmt.Fprintf(w, "\npipeline / limit: %.0f SMS/s / %.0f commits/s = %.2f\n", rep.MaxSMSPerSec, rep.Limit.CommitsPerSec, rep.RatioToLimit)
	}
	fmt.Fprintf(w, "counts: %s\n", map[bool]string{true: "SMS == distinct missed calls with a valid caller, none twice", false: "WRONG (see above)"}[rep.AllCorrect])
}

// Plot writes latency-vs-load.png (p50/p95/p99 against SMS/s) and
// latency-histogram.png (of the step named hist, or the last one) into dir.
func (rep *Report) Plot(dir, prefix, hist string) error {
	if len(rep.Steps) == 0 {
		return nil
	}
	steps := append([]Step(nil), rep.Steps...)
	sort.Slice(steps, func(i, j int) bool { return steps[i].Result.SMSPerSec < steps[j].Result.SMSPerSec })
	p := plot.New()
	p.Title.Text = fmt.Sprintf("textback on %s (%d replica(s)): webhook → SMS latency vs load", rep.Database, rep.Replicas)
	p.X.Label.Text = "missed calls per second (SMS/s delivered)"
	p.Y.Label.Text = "latency (ms)"
	var lines []any
	for _, q := range []struct {
		name string
		f    func(Latency) float64
	}{{"p50", func(l Latency) float64 { return l.P50 }}, {"p95", func(l Latency) float64 { return l.P95 }}, {"p99", func(l Latency) float64 { return l.P99 }}} {
		pts := make(plotter.XYs, 0, len(steps))
		for _, s := range steps {
			pts = append(pts, plotter.XY{X: s.Result.SMSPerSec, Y: q.f(s.Result.Latency)})
		}
		lines = append(lines, q.name, pts)
	}
	if err := plotutil.AddLinePoints(p, lines...); err != nil {
		return err
	}
	p.Legend.Top = true
	p.Legend.Left = true
	if err := p.Save(7*vg.Inch, 4*vg.Inch, filepath.Join(dir, prefix+"latency-vs-load.png")); err != nil {
		return err
	}

	var chosen *Result
	for _, s := range rep.Steps {
		if s.Name == hist {
			chosen = s.Result
		}
	}
	if chosen == nil {
		chosen = rep.Steps[len(rep.Steps)-1].Result
	}
	if len(chosen.Samples) == 0 {
		return nil
	}
	// Clip at p99.9 so one outlier does not squash the histogram; say so.
	s := append([]float64(nil), chosen.Samples...)
	sort.Float64s(s)
	clip := s[min(len(s)-1, int(float64(len(s))*0.999))]
	vals := make(plotter.Values, 0, len(s))
	for _, v := range s {
		vals = append(vals, min(v, clip))
	}
	h, err := plotter.NewHist(vals, 60)
	if err != nil {
		return err
	}
	h.FillColor = color.RGBA{R: 70, G: 120, B: 200, A: 255}
	hp := plot.New()
	hp.Title.Text = fmt.Sprintf("webhook → SMS latency at %.0f SMS/s (%s, n=%d, p50 %.1f ms, p99 %.1f ms; clipped at p99.9)",
		chosen.SMSPerSec, rep.Database, len(s), chosen.Latency.P50, chosen.Latency.P99)
	hp.Title.TextStyle.Font.Size = vg.Points(10)
	hp.X.Label.Text = "latency (ms)"
	hp.Y.Label.Text = "missed calls"
	hp.Add(h)
	return hp.Save(7*vg.Inch, 4*vg.Inch, filepath.Join(dir, prefix+"latency-histogram.png"))
}
