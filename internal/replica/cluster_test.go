package replica_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/textback/textback/internal/providers/generic"
)

// buildBinary builds textback from this tree (as CI does, without -race).
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "textback")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/textback/textback/cmd/textback").CombinedOutput()
	if err != nil {
		t.Fatalf("building textback: %v\n%s", err, out)
	}
	return bin
}

// replica is one `textback serve` process.
type replica struct {
	n      int
	addr   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
	killed atomic.Bool
}

func (r *replica) url() string { return "http://" + r.addr }

// cluster is several replicas on one database, as behind a load balancer.
type cluster struct {
	t        *testing.T
	replicas []*replica
	http     *http.Client

	secret string // the workspace's generic-webhook signing secret
	path   string // the generic webhook's path
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startCluster starts n replicas at the same instant (so that their
// migrations race) and waits until each answers /readyz.
func startCluster(t *testing.T, bin string, n int, args ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, http: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: 64, DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext}}}
	dir := t.TempDir()
	for i := range n {
		r := &replica{n: i, addr: freeAddr(t), log: filepath.Join(dir, fmt.Sprintf("replica-%d.log", i)), exited: make(chan struct{})}
		logf, err := os.Create(r.log)
		if err != nil {
			t.Fatal(err)
		}
		r.cmd = exec.Command(bin, append([]string{"serve", "--addr", r.addr}, args...)...)
		r.cmd.Stdout, r.cmd.Stderr = logf, logf
		if err := r.cmd.Start(); err != nil {
			t.Fatalf("starting replica %d: %v", i, err)
		}
		go func() {
			_ = r.cmd.Wait()
			logf.Close()
			close(r.exited)
		}()
		c.replicas = append(c.replicas, r)
	}
	t.Cleanup(c.stop)
	for _, r := range c.replicas {
		c.waitReady(r, 60*time.Second)
	}
	return c
}

func (c *cluster) waitReady(r *replica, within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := c.http.Get(r.url() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-r.exited:
			c.t.Fatalf("replica %d exited while starting:\n%s", r.n, tail(r.log, 40))
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("replica %d not ready after %v (%v):\n%s", r.n, within, err, tail(r.log, 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the replicas still running with SIGTERM (SIGKILL after 15 s)
// and shows their logs if the test failed.
func (c *cluster) stop() {
	for _, r := range c.replicas {
		if !r.killed.Load() {
			_ = r.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, r := range c.replicas {
		select {
		case <-r.exited:
		case <-time.After(15 * time.Second):
			_ = r.cmd.Process.Kill()
			<-r.exited
			c.t.Errorf("replica %d did not stop within 15 s of SIGTERM", r.n)
		}
		if c.t.Failed() {
			c.t.Logf("replica %d log (last lines):\n%s", r.n, tail(r.log, 30))
		}
	}
}

// kill ends a replica with SIGKILL: no shutdown, no cleanup.
func (c *cluster) kill(r *replica) {
	c.t.Helper()
	r.killed.Store(true)
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		c.t.Fatalf("SIGKILL replica %d: %v", r.n, err)
	}
	<-r.exited
}

// api calls the JSON API on replica 0 (any replica would do).
func (c *cluster) api(method, path, key string, body any, want int) map[string]any {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.replicas[0].url()+path, rd)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, want)
	}
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// deliveryStats count what the load balancer did.
type deliveryStats struct {
	posts      atomic.Int64 // requests sent, retries included
	redirected atomic.Int64 // deliveries retried on another replica after a connection error or 5xx
}

// deliver posts one signed call event to replica prefer, moving on to the
// next replica when one cannot be reached or answers 5xx, as a load
// balancer (or the carrier's retry) would. It is signed afresh each try.
func (c *cluster) deliver(ctx context.Context, body []byte, prefer int, st *deliveryStats) error {
	var last error
	for try := range 3 * len(c.replicas) {
		r := c.replicas[(prefer+try)%len(c.replicas)]
		if try > 0 {
			st.redirected.Add(1)
			time.Sleep(time.Duration(try) * 20 * time.Millisecond)
		}
		req, _ := http.NewRequestWithContext(ctx, "POST", r.url()+c.path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(generic.SignatureHeader, generic.Sign(c.secret, time.Now(), body))
		st.posts.Add(1)
		resp, err := c.http.Do(req)
		if err != nil {
			last = err
			continue
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode/100 == 2:
			return nil
		case resp.StatusCode >= 500:
			last = fmt.Errorf("replica %d answered %d: %s", r.n, resp.StatusCode, answer)
		default:
			return fmt.Errorf("replica %d answered %d: %s", r.n, resp.StatusCode, answer)
		}
	}
	return fmt.Errorf("no replica took the event: %w", last)
}

// metric sums a Prometheus counter's samples whose labels contain all of
// labels, as scraped from the replica's /metrics.
func (c *cluster) metric(r *replica, name string, labels ...string) float64 {
	c.t.Helper()
	resp, err := c.http.Get(r.url() + "/metrics")
	if err != nil {
		c.t.Fatalf("scraping replica %d: %v", r.n, err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		match := true
		for _, l := range labels {
			match = match && strings.Contains(line, l)
		}
		if !match {
			continue
		}
		if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
			sum += v
		}
	}
	return sum
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// parallel runs fn for each item with at most n at a time.
func parallel[T any](items []T, n int, fn func(i int, item T)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, n)
	for i, it := range items {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(i, it)
		})
	}
	wg.Wait()
}
