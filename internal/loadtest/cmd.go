package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/textback/textback/internal/store"
)

// Command is `textback loadtest`; self is the textback binary (for --spawn).
func Command(ctx context.Context, args []string, self string, out io.Writer) error {
	var (
		baseURL, apiKey, dbURL, sweep, plotDir, pprofAddr, serveArgs, histStep, jsonOut string
		spawn, limit, asJSON                                                            bool
		replicas, limitWriters                                                          int
		limitDur                                                                        time.Duration
		load                                                                            Load
		mix                                                                             Mix
	)
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.StringVar(&baseURL, "url", "", "a running textback (comma-separated for several replicas); its --twilio-api-url must reach this process's fake (see --spawn)")
	fs.StringVar(&apiKey, "api-key", os.Getenv("TEXTBACK_API_KEY"), "with --url: an admin API key (TEXTBACK_API_KEY)")
	fs.BoolVar(&spawn, "spawn", false, "start textback itself (this binary's serve) on --database-url or a temporary SQLite file")
	fs.StringVar(&dbURL, "database-url", "", "with --spawn: the database (default: a temporary SQLite file); with --url: the server's, to measure --limit on")
	fs.IntVar(&replicas, "replicas", 1, "with --spawn: textback processes on the one database (PostgreSQL), webhooks spread round-robin")
	fs.StringVar(&serveArgs, "serve-args", "", "with --spawn: extra flags for serve, space-separated (e.g. \"--poll-interval 10ms\")")
	fs.StringVar(&pprofAddr, "pprof-addr", "", "with --spawn: serve pprof on this address in the (first) server")
	fs.Float64Var(&load.Rate, "rate", 0, "webhooks per second (open model)")
	fs.IntVar(&load.Concurrency, "concurrency", 0, "webhooks in flight (closed model; default 16 without --rate)")
	fs.DurationVar(&load.Duration, "duration", 10*time.Second, "how long each run sends")
	fs.IntVar(&load.Calls, "calls", 0, "send this many webhooks per run instead of for --duration")
	fs.DurationVar(&load.Drain, "drain", 15*time.Second, "how long to wait for the last SMS")
	fs.Float64Var(&mix.Answered, "answered", 0.1, "share of calls answered (no SMS)")
	fs.Float64Var(&mix.Duplicates, "duplicates", 0.3, "share of webhooks that repeat an earlier call's")
	fs.Float64Var(&mix.Withheld, "withheld", 0.05, "share of calls from a withheld number (no SMS)")
	fs.Float64Var(&mix.Twilio, "twilio", 0.5, "share of calls reported by Twilio's Dial action (the rest by the generic webhook)")
	fs.StringVar(&sweep, "sweep", "", "first a run at --concurrency to find the maximum, then runs at these fractions of it (e.g. 0.1,0.25,0.5,0.75,0.9)")
	fs.BoolVar(&limit, "limit", true, "measure the bare commit rate of the hot path's writes on the same database (needs --spawn or --database-url)")
	fs.DurationVar(&limitDur, "limit-duration", 5*time.Second, "how long to measure the limit")
	fs.IntVar(&limitWriters, "limit-writers", store.DefaultPoolSize, "PostgreSQL: concurrent writers for the limit (SQLite has one)")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fs.StringVar(&jsonOut, "json-out", "", "also write the JSON report to this file")
	fs.StringVar(&plotDir, "plot-dir", "", "write latency-vs-load.png and latency-histogram.png here")
	fs.StringVar(&histStep, "histogram-run", "", "the run the histogram shows (default: the sweep's 0.5 run, or the last)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if load.Rate <= 0 && load.Concurrency <= 0 {
		load.Concurrency = 16
	}
	if !spawn && baseURL == "" {
		return errors.New("give --spawn, or --url and --api-key of a running textback")
	}
	fake, err := StartFakeTwilio()
	if err != nil {
		return err
	}
	defer fake.Close()

	rep := &Report{Replicas: replicas, Mix: mix}
	var bases []string
	var servers []*Spawned
	if spawn {
		if dbURL == "" {
			dir, err := os.MkdirTemp("", "textback-loadtest-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			dbURL = "sqlite:" + filepath.Join(dir, "textback.db")
		}
		if apiKey, err = CreateWorkspace(ctx, self, dbURL); err != nil {
			return err
		}
		if limit {
			if rep.Limit, err = MeasureLimit(ctx, dbURL, limitDur, limitWriters); err != nil {
				return err
			}
			if !store.IsPostgresURL(dbURL) {
				if rep.LimitFull, err = MeasureLimitSync(ctx, dbURL, limitDur, 1, "FULL"); err != nil {
					return err
				}
			}
		}
		defer func() {
			for _, s := range servers {
				s.Stop()
			}
		}()
		for i := range max(replicas, 1) {
			extra := strings.Fields(serveArgs)
			if pprofAddr != "" && i == 0 {
				extra = append(extra, "--pprof-addr", pprofAddr)
			}
			s, err := Spawn(ctx, self, dbURL, fake.URL, extra...)
			if err != nil {
				return err
			}
			servers = append(servers, s)
			bases = append(bases, s.Base)
		}
		rep.StartupMS = float64(servers[0].Startup) / 1e6
	} else {
		bases = strings.Split(baseURL, ",")
		if apiKey == "" {
			return errors.New("--api-key is required with --url")
		}
		if limit && dbURL != "" {
			if rep.Limit, err = MeasureLimit(ctx, dbURL, limitDur, limitWriters); err != nil {
				return err
			}
		}
	}
	rep.Database = "sqlite"
	if store.IsPostgresURL(dbURL) {
		rep.Database = "postgres"
	} else if !spawn && dbURL == "" {
		rep.Database = "unknown"
	}

	var fractions []float64
	for _, f := range strings.Split(sweep, ",") {
		if f = strings.TrimSpace(f); f != "" {
			v, err := strconv.ParseFloat(f, 64)
			if err != nil || v <= 0 {
				return fmt.Errorf("bad --sweep fraction %q", f)
			}
			fractions = append(fractions, v)
		}
	}
	seconds := load.Duration.Seconds()
	if load.Calls > 0 {
		seconds = 0
	}
	credits := 4 * (load.Calls*(1+len(fractions)) + int(seconds*3000)*(1+len(fractions)) + 1000)
	t, err := Setup(ctx, bases, apiKey, "AC"+strings.Repeat("0", 31)+"1", "0123456789abcdef0123456789abcdef", credits)
	if err != nil {
		return err
	}
	if len(servers) > 0 {
		t.PublicURLs = bases // each spawned replica's --public-url is its own address: Twilio signs over it
		time.Sleep(time.Second)
		for _, s := range servers[:1] {
			if ps, err := ReadProc(s.Cmd.Process.Pid); err == nil {
				rep.IdleRSSMB = ps.RSSMB
			}
		}
	}
	runner := &Runner{T: t, Arrivals: fake.Arrivals, Mix: mix, Seed: uint64(time.Now().UnixNano())}
	step := func(name string, l Load) (*Result, error) {
		before := make([]ProcStats, len(servers))
		for i, s := range servers {
			_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", s.Cmd.Process.Pid), []byte("5"), 0) // reset the peak RSS
			before[i], _ = ReadProc(s.Cmd.Process.Pid)
		}
		res, err := runner.Run(ctx, l)
		if err != nil {
			return nil, err
		}
		st := Step{Name: name, Result: res}
		if len(servers) > 0 {
			st.Server = &ProcStats{}
			for i, s := range servers {
				ps, _ := ReadProc(s.Cmd.Process.Pid)
				st.Server.CPUSeconds += ps.CPUSeconds - before[i].CPUSeconds
				st.Server.PeakRSSMB = max(st.Server.PeakRSSMB, ps.PeakRSSMB)
				st.Server.RSSMB = max(st.Server.RSSMB, ps.RSSMB)
			}
		}
		rep.Steps = append(rep.Steps, st)
		if !asJSON {
			fmt.Fprintf(os.Stderr, "loadtest: %s: %.0f webhooks/s, %.0f SMS/s, p99 %.1f ms, correct %v\n", name, res.WebhooksPerSec, res.SMSPerSec, res.Latency.P99, res.Correct)
		}
		return res, nil
	}
	if len(fractions) > 0 {
		c := max(load.Concurrency, 1)
		maxRes, err := step(fmt.Sprintf("max (c=%d)", c), Load{Concurrency: c, Duration: load.Duration, Calls: load.Calls, Drain: load.Drain})
		if err != nil {
			return err
		}
		for _, f := range fractions {
			rate := f * maxRes.WebhooksPerSec
			if _, err := step(fmt.Sprintf("%.0f%% %.0f/s", f*100, rate), Load{Rate: rate, Duration: load.Duration, Calls: load.Calls, Drain: load.Drain}); err != nil {
				return err
			}
			if f == 0.5 && histStep == "" {
				histStep = rep.Steps[len(rep.Steps)-1].Name
			}
		}
	} else {
		name := fmt.Sprintf("c=%d", load.Concurrency)
		if load.Rate > 0 {
			name = fmt.Sprintf("rate %.0f/s", load.Rate)
		}
		if _, err := step(name, load); err != nil {
			return err
		}
	}
	rep.finish()
	if plotDir != "" {
		prefix := rep.Database + "-"
		if replicas > 1 {
			prefix += strconv.Itoa(replicas) + "-replicas-"
		}
		if err := rep.Plot(plotDir, prefix, histStep); err != nil {
			return fmt.Errorf("plot: %w", err)
		}
	}
	if jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		rep.WriteText(out)
	}
	if !rep.AllCorrect {
		return errors.New("the counts are wrong: see the report")
	}
	return nil
}
