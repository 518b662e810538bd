package faults_test

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/textback/textback/internal/apptest"
	"github.com/textback/textback/internal/providers/twilio/twiliotest"
)

// TestFullDiskSQLite puts textback's SQLite file on a small tmpfs of its
// own, fills the disk while textback runs, then frees it; then restarts
// textback on the same file system mounted read-only. A full disk gives
// webhooks 503 (the carrier retries), a failing /readyz and a log line
// that says the disk is full; nothing accepted before or after is lost. A
// read-only database stops textback at start with an error naming it.
// Mounting needs root (CI runs as root); without it the test is skipped.
func TestFullDiskSQLite(t *testing.T) {
	if apptest.Database() == "postgres" {
		t.Skip("SQLite's disk: runs in the SQLite pass")
	}
	bin := binary(t)
	if os.Geteuid() != 0 {
		t.Skip("mounting a private tmpfs needs root")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", mnt).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount tmpfs: %v %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	dbURL := "sqlite:" + filepath.Join(mnt, "textback.db")
	tw := twiliotest.New(t)
	tw.SetCredentials(twilioSID, twilioToken)
	p := newProc(t, bin, dbURL, "--twilio-api-url", tw.URL, "--log-level", "warn", "--retry-base", "100ms")
	p.start(true)
	const calls = 60
	p.setup(dbURL, 4*calls)
	deliverAll := func(from, to int) (accepted, unavailable int) {
		for i := from; i < to; i++ {
			code, err := p.deliver(missedCall(fmt.Sprintf("disk-%03d", i), fmt.Sprintf("+1415558%04d", i)))
			switch {
			case err != nil:
				t.Fatalf("call %d: %v", i, err)
			case code/100 == 2:
				accepted++
			case code == http.StatusServiceUnavailable:
				unavailable++
			default:
				t.Fatalf("call %d answered %d", i, code)
			}
		}
		return
	}
	if a, _ := deliverAll(0, calls/3); a != calls/3 {
		t.Fatalf("%d of %d calls accepted before the disk filled", a, calls/3)
	}
	waitSettled(t, dbURL, p.workspace, calls/3, 30*time.Second)

	// Fill the disk.
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	f.Close()
	readyzFull := 0
	for range 20 {
		if code, _ := p.get("/readyz"); code == http.StatusServiceUnavailable {
			readyzFull++
		}
		time.Sleep(20 * time.Millisecond)
	}
	acceptedFull, refused := deliverAll(calls/3, 2*calls/3)
	if readyzFull == 0 {
		t.Error("/readyz never failed with the disk full")
	}
	if refused == 0 {
		t.Error("no webhook answered 503 with the disk full")
	}
	if !strings.Contains(p.logText(), "full") {
		t.Errorf("no log line says the disk is full:\n%s", p.logTail(20))
	}

	// Free it: the carrier's retries go through, nothing is lost.
	os.Remove(filler)
	deadline := time.Now().Add(10 * time.Second)
	for code, _ := p.get("/readyz"); code != http.StatusOK; code, _ = p.get("/readyz") {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still failing after the disk was freed:\n%s", p.logTail(20))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if a, u := deliverAll(calls/3, calls); a != calls-calls/3 || u != 0 {
		t.Fatalf("after freeing the disk: %d accepted, %d refused", a, u)
	}
	s := waitSettled(t, dbURL, p.workspace, calls, 30*time.Second)
	sent := map[string]int{}
	for _, m := range tw.Messages() {
		sent[m.To]++
	}
	lost, doubled := 0, 0
	for i := range calls {
		from := fmt.Sprintf("+1415558%04d", i)
		if len(s.messages[from]) != 1 || sent[from] == 0 {
			lost++
		}
		if sent[from] > 1 || len(s.messages[from]) > 1 {
			doubled++
		}
	}
	if lost+doubled != 0 || s.calls != calls || s.ledgerSum != s.balance || s.balance != 0 {
		t.Errorf("%d lost, %d doubled, %d calls, balance %d, ledger sum %d", lost, doubled, s.calls, s.balance, s.ledgerSum)
	}
	report(t, "disk full on a 24 MB tmpfs: /readyz failed %d of 20 probes, %d webhooks answered 503 (%d still fitted), log says the disk is full; freed: %d of %d calls processed, %d lost, %d doubled, ledger sum %d == balance %d",
		readyzFull, refused, acceptedFull, s.calls, calls, lost, doubled, s.ledgerSum, s.balance)

	// Read-only: stop, remount read-only, start again.
	p.stop()
	if out, err := exec.Command("mount", "-o", "remount,ro", mnt).CombinedOutput(); err != nil {
		t.Fatalf("remount read-only: %v %s", err, out)
	}
	p.start(false)
	var outcome string
	deadline = time.Now().Add(20 * time.Second)
	for outcome == "" {
		select {
		case <-p.exited:
			outcome = "textback exited at start"
		default:
			if code, body := p.get("/readyz"); code == http.StatusServiceUnavailable {
				outcome = "/readyz answered 503: " + strings.TrimSpace(body)
			} else if code == http.StatusOK {
				t.Fatal("/readyz answered 200 on a read-only database")
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("on a read-only file system textback neither stopped nor failed /readyz:\n%s", p.logTail(20))
		}
		time.Sleep(50 * time.Millisecond)
	}
	tail := p.logTail(5)
	if !strings.Contains(strings.ToLower(tail), "read") {
		t.Errorf("the error does not say the database is read-only:\n%s", tail)
	}
	p.stop()
	report(t, "read-only file system: %s; its last log line: %s", outcome, lastLine(tail))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
