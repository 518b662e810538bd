package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/textback/textback/internal/auth"
)

func TestWorkspaceCreatePrintsIDsAndKey(t *testing.T) {
	auth.BcryptCost = bcrypt.MinCost
	db := "sqlite:" + filepath.Join(t.TempDir(), "t.db")
	var out bytes.Buffer
	err := createWorkspace(context.Background(), []string{"--database-url", db, "--name", "Acme", "--admin-email", "a@acme.test", "--admin-password", "long enough"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output is not one JSON object: %q", out.String())
	}
	if !strings.HasPrefix(got["workspace_id"], "ws_") || !strings.HasPrefix(got["user_id"], "usr_") || !strings.HasPrefix(got["api_key"], auth.KeyPrefix) {
		t.Fatalf("output %v", got)
	}
	err = createWorkspace(context.Background(), []string{"--database-url", db, "--name", "Acme", "--admin-email", "bad", "--admin-password", "long enough"}, io.Discard)
	if err == nil {
		t.Fatal("a bad e-mail was accepted")
	}
}

// TestDemoServerAndSimulatedCall runs the README's quick start with the real
// binary: serve --demo, then simulate-call, then the call log.
func TestDemoServerAndSimulatedCall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "textback")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	srv := exec.Command(bin, "serve", "--demo", "--addr", addr, "--database-url", "sqlite:"+filepath.Join(dir, "demo.db"))
	stdout, _ := srv.StdoutPipe()
	var stderr bytes.Buffer
	srv.Stderr = &stderr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Signal(os.Interrupt)
		srv.Wait()
	})
	key := make(chan string, 1)
	go func() {
		re := regexp.MustCompile(`API key \(admin\):\s+(\S+)`)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				key <- m[1]
			}
		}
	}()
	var k string
	select {
	case k = <-key:
	case <-time.After(30 * time.Second):
		t.Fatalf("the demo printed no API key; stderr:\n%s", stderr.String())
	}
	out, err := exec.Command(bin, "simulate-call", "--url", "http://"+addr, "--api-key", k).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"decision":"sent"`) {
		t.Fatalf("simulate-call: %v\n%s", err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest("GET", "http://"+addr+"/api/v1/calls", nil)
		req.Header.Set("Authorization", "Bearer "+k)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), `"status":"delivered"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the call log never showed the autoreply delivered: %s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
