package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Spawned is a `textback serve` process started by the load generator.
type Spawned struct {
	Cmd     *exec.Cmd
	Base    string
	Startup time.Duration // from exec to /readyz answering 200
	stderr  *bytes.Buffer
}

// CreateWorkspace runs `textback workspace create` on the database and
// returns the admin API key.
func CreateWorkspace(ctx context.Context, binary, databaseURL string) (string, error) {
	cmd := exec.CommandContext(ctx, binary, "workspace", "create", "--database-url", databaseURL,
		"--name", "Load test", "--admin-email", fmt.Sprintf("load-%d@example.com", time.Now().UnixNano()), "--admin-password", "load-test-password")
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return "", fmt.Errorf("workspace create: %v: %s", err, ee.Stderr)
		}
		return "", fmt.Errorf("workspace create: %w", err)
	}
	var v struct {
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return "", fmt.Errorf("workspace create printed %q: %w", out, err)
	}
	return v.APIKey, nil
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Spawn starts `binary serve` and waits until it is ready.
func Spawn(ctx context.Context, binary, databaseURL, twilioAPIURL string, extra ...string) (*Spawned, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--addr", addr, "--database-url", databaseURL, "--twilio-api-url", twilioAPIURL,
		"--log-level", "warn"}, extra...)
	cmd := exec.Command(binary, args...)
	s := &Spawned{Cmd: cmd, Base: "http://" + addr, stderr: &bytes.Buffer{}}
	cmd.Stderr = &limitedBuffer{b: s.stderr, max: 64 << 10}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	for {
		resp, err := http.Get(s.Base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.Startup = time.Since(start)
				return s, nil
			}
		}
		if time.Since(start) > 60*time.Second || ctx.Err() != nil {
			s.Stop()
			return nil, fmt.Errorf("textback serve did not become ready: %s", s.stderr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Stop ends the process (SIGTERM, then SIGKILL after 15 s).
func (s *Spawned) Stop() {
	if s.Cmd.Process == nil {
		return
	}
	_ = s.Cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.Cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = s.Cmd.Process.Kill()
		<-done
	}
}

// Stderr is what the process logged (up to 64 KiB).
func (s *Spawned) Stderr() string { return s.stderr.String() }

type limitedBuffer struct {
	b   *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// ProcStats are a process's CPU time and memory from /proc.
type ProcStats struct {
	CPUSeconds float64 `json:"cpu_seconds"` // user + system
	RSSMB      float64 `json:"rss_mb"`      // now
	PeakRSSMB  float64 `json:"peak_rss_mb"` // high-water mark since start
}

// ReadProc reads /proc/PID/stat and /proc/PID/status.
func ReadProc(pid int) (ProcStats, error) {
	var ps ProcStats
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return ps, err
	}
	// fields after the ")" that ends the command name: state is field 3; utime 14, stime 15
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) > 13 {
		ut, _ := strconv.ParseFloat(f[11], 64)
		st, _ := strconv.ParseFloat(f[12], 64)
		ps.CPUSeconds = (ut + st) / 100 // USER_HZ is 100 on Linux
	}
	status, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return ps, err
	}
	defer status.Close()
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		switch k {
		case "VmRSS":
			ps.RSSMB = kb / 1024
		case "VmHWM":
			ps.PeakRSSMB = kb / 1024
		}
	}
	return ps, nil
}
