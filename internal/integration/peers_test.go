// Package integration tests textback against the real telecom software of
// the peers kit (../shared/peers next to the repository): Kannel with its
// fake SMSC, the smppsim.pl SMPP simulator, Kamailio and SIPp. The peers run
// on loopback with ports of each test's own, from the kit's own scripts.
//
// The tests run with TEXTBACK_TEST_PEERS=1 (.ci/run sets it after running
// the kit's install.sh); then a missing kit or package fails them. Without
// it they skip, saying why.
package integration

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// kit is the peers kit: the folder with install.sh and the start scripts.
type kit struct{ dir string }

// requirePeers returns the kit, or skips (fails with TEXTBACK_TEST_PEERS=1)
// when the kit or its Debian packages are missing.
func requirePeers(t *testing.T) *kit {
	t.Helper()
	required := os.Getenv("TEXTBACK_TEST_PEERS") == "1"
	dir, err := kitDir()
	if err != nil {
		if required {
			t.Fatalf("TEXTBACK_TEST_PEERS=1 but %v", err)
		}
		t.Skipf("integration tests with the real peers skipped: %v", err)
	}
	out, err := exec.Command("bash", filepath.Join(dir, "install.sh"), "--check").CombinedOutput()
	switch {
	case err != nil && required:
		t.Fatalf("TEXTBACK_TEST_PEERS=1 but the peers are not installed (run %s/install.sh):\n%s", dir, out)
	case err != nil:
		t.Skipf("integration tests with the real peers skipped: they are not installed (run %s/install.sh, then set TEXTBACK_TEST_PEERS=1):\n%s", dir, missing(out))
	case !required:
		t.Skipf("integration tests with the real peers skipped: set TEXTBACK_TEST_PEERS=1 to run them against Kannel, Kamailio, SIPp and smppsim.pl from %s", dir)
	}
	return &kit{dir: dir}
}

// kitDir finds the kit: $TEXTBACK_PEERS_DIR, or ../shared/peers next to the
// repository's root (where CI puts it).
func kitDir() (string, error) {
	if d := os.Getenv("TEXTBACK_PEERS_DIR"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "install.sh")); err != nil {
			return "", fmt.Errorf("TEXTBACK_PEERS_DIR=%s has no install.sh", d)
		}
		return d, nil
	}
	root, err := filepath.Abs(filepath.Join("..", "..")) // go test runs in internal/integration
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("cannot find the repository root from %s", root)
	}
	d := filepath.Join(filepath.Dir(root), "shared", "peers")
	if _, err := os.Stat(filepath.Join(d, "install.sh")); err != nil {
		return "", fmt.Errorf("the peers kit is not at %s (../shared/peers next to the repository; or set TEXTBACK_PEERS_DIR)", d)
	}
	return d, nil
}

func missing(checkOutput []byte) string {
	var b strings.Builder
	for _, l := range strings.Split(string(checkOutput), "\n") {
		if strings.HasPrefix(l, "MISSING") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// copyTo copies the kit (without gosmpp-test) into a folder of the test's
// own, so that the test can put its own configuration beside the kit's
// scripts, which find their files next to themselves.
func (k *kit) copyTo(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "kit")
	err := filepath.WalkDir(k.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(k.dir, p)
		if d.IsDir() {
			if d.Name() == "gosmpp-test" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copying the peers kit: %v", err)
	}
	return dst
}

// ports hands out loopback ports that are free now and not given to another
// test of this process.
var ports = struct {
	sync.Mutex
	used map[int]bool
}{used: map[int]bool{}}

func freePort(t *testing.T, udp bool) int {
	t.Helper()
	ports.Lock()
	defer ports.Unlock()
	for range 100 {
		var p int
		if udp {
			c, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			p = c.LocalAddr().(*net.UDPAddr).Port
			c.Close()
		} else {
			l, err := net.Listen("tcp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			p = l.Addr().(*net.TCPAddr).Port
			l.Close()
		}
		if !ports.used[p] {
			ports.used[p] = true
			return p
		}
	}
	t.Fatal("no free port")
	return 0
}

// script runs one of the kit's scripts with env added to the environment.
func script(t *testing.T, kitDir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(kitDir, name)}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// tailOnFailure logs the end of each file when the test fails.
func tailOnFailure(t *testing.T, files ...string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
			if len(lines) > 40 {
				lines = lines[len(lines)-40:]
			}
			t.Logf("---- %s (end) ----\n%s", f, strings.Join(lines, "\n"))
		}
	})
}

// waitFor polls cond every 50 ms for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ---- Kamailio and SIPp ----

// kamailio is a running Kamailio with textback's configuration.
type kamailio struct {
	kit, run            string
	sip, uas, uac, hook int
	mu                  sync.Mutex // one call at a time: one business line
	callsPlaced         int
}

// startKamailio starts Kamailio with the kit's kamailio-start.sh, in a copy
// of the kit whose kamailio.cfg is textback's (testdata/kamailio.cfg): the
// kit's own configuration posts a JSON of its own, not textback's generic
// call event. It reports to eventsURL with the bearer token.
func (k *kit) startKamailio(t *testing.T, eventsURL, token string, ringMS int) *kamailio {
	t.Helper()
	dir := k.copyTo(t)
	cfg, err := os.ReadFile(filepath.Join("testdata", "kamailio.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	cfg = setDefine(t, cfg, "TEXTBACK_URL", strconv.Quote(eventsURL))
	cfg = setDefine(t, cfg, "TEXTBACK_TOKEN", strconv.Quote(token))
	cfg = setDefine(t, cfg, "RING_TIMEOUT_MS", strconv.Itoa(ringMS))
	if err := os.WriteFile(filepath.Join(dir, "kamailio", "kamailio.cfg"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	km := &kamailio{kit: dir, run: filepath.Join(t.TempDir(), "run"),
		sip: freePort(t, true), uas: freePort(t, true), uac: freePort(t, true), hook: freePort(t, false)}
	env := km.env()
	t.Cleanup(func() { script(t, dir, env, "kamailio-stop.sh") })
	tailOnFailure(t, filepath.Join(km.run, "kamailio", "kamailio.log"))
	script(t, dir, env, "kamailio-start.sh")
	return km
}

func (km *kamailio) env() []string {
	return []string{"PEERS_RUN_DIR=" + km.run, fmt.Sprintf("PEERS_SIP_PORT=%d", km.sip), fmt.Sprintf("PEERS_UAS_PORT=%d", km.uas),
		fmt.Sprintf("PEERS_UAC_PORT=%d", km.uac), fmt.Sprintf("PEERS_CALL_HOOK_PORT=%d", km.hook)}
}

// setDefine replaces the default of a "#!trydef NAME value" line.
func setDefine(t *testing.T, cfg []byte, name, value string) []byte {
	t.Helper()
	prefix := []byte("#!trydef " + name + " ")
	lines := bytes.Split(cfg, []byte("\n"))
	for i, l := range lines {
		if bytes.HasPrefix(l, prefix) {
			lines[i] = append(prefix, value...)
			return bytes.Join(lines, []byte("\n"))
		}
	}
	t.Fatalf("testdata/kamailio.cfg has no #!trydef %s", name)
	return nil
}

// sipScenarios are the kit's SIPp scenarios of each case, as sip-case.sh
// pairs them: the business line (UAS) and the caller (UAC).
var sipScenarios = map[string][2]string{
	"busy":     {"uas_busy.xml", "uac_call.xml"},
	"cancel":   {"uas_ring.xml", "uac_cancel.xml"}, // the caller hangs up after 3 s of ringing
	"noanswer": {"uas_ring.xml", "uac_call.xml"},   // Kamailio gives up after RING_TIMEOUT_MS
	"answered": {"uas_answer.xml", "uac_call.xml"},
}

// call places one call to the tracking number 18005550100 from caller
// through Kamailio with SIPp, as the kit's sip-case.sh does, but with a
// caller of the test's choosing: sip-case.sh always calls from 15557654321,
// which is no valid number (area code 555), so textback would rightly skip
// it as an invalid caller.
func (km *kamailio) call(t *testing.T, name, caller string) {
	t.Helper()
	km.mu.Lock()
	defer km.mu.Unlock()
	sc, ok := sipScenarios[name]
	if !ok {
		t.Fatalf("no SIP case %q", name)
	}
	out := filepath.Join(km.run, "kamailio", "sipp")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	km.callsPlaced++
	tag := fmt.Sprintf("%d-%s", km.callsPlaced, name)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	sipp := func(args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, "sipp", args...)
		cmd.Stdin = nil
		return cmd
	}
	uasLog, _ := os.Create(filepath.Join(out, "uas-"+tag+".out"))
	defer uasLog.Close()
	uas := sipp("-sf", filepath.Join(km.kit, "sipp", sc[0]), "-i", "127.0.0.1", "-p", strconv.Itoa(km.uas), "-m", "1", "-nostdin",
		"-timeout", "30", "-trace_err", "-error_file", filepath.Join(out, "uas-"+tag+"-errors.log"))
	uas.Stdout, uas.Stderr = uasLog, uasLog
	if err := uas.Start(); err != nil {
		t.Fatalf("starting the SIPp business line: %v", err)
	}
	for i := 0; !udpBound(km.uas) && i < 100; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	uac := sipp("-sf", filepath.Join(km.kit, "sipp", sc[1]), "-s", "18005550100", "-key", "caller", strings.TrimPrefix(caller, "+"),
		"-i", "127.0.0.1", "-p", strconv.Itoa(km.uac), "-m", "1", "-nostdin", "-timeout", "30", "-trace_err",
		"-error_file", filepath.Join(out, "uac-"+tag+"-errors.log"), fmt.Sprintf("127.0.0.1:%d", km.sip))
	uacOut, uacErr := uac.CombinedOutput()
	uasErr := uas.Wait()
	if uacErr != nil || uasErr != nil {
		uasOut, _ := os.ReadFile(uasLog.Name())
		t.Fatalf("SIP case %s from %s did not go as scripted: caller %v, line %v\ncaller:\n%s\nline:\n%s", name, caller, uacErr, uasErr, tail(uacOut), tail(uasOut))
	}
}

func tail(b []byte) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 25 {
		lines = lines[len(lines)-25:]
	}
	return strings.Join(lines, "\n")
}

// udpBound reports whether some socket is bound to the UDP port (read from
// /proc, like the kit's lib.sh: a probe bind could steal the port).
func udpBound(port int) bool {
	f, err := os.Open("/proc/net/udp")
	if err != nil {
		return false
	}
	defer f.Close()
	want := fmt.Sprintf(":%04X ", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 1 && strings.HasSuffix(fields[1]+" ", want) {
			return true
		}
	}
	return false
}

// ---- smppsim.pl ----

// smppSim is the kit's SMPP simulator, started on a port of the test's own.
type smppSim struct {
	kit, log, moDir string
	port            int
	cmd             *exec.Cmd
}

func (k *kit) newSMPPSim(t *testing.T) *smppSim {
	run := filepath.Join(t.TempDir(), "smppsim")
	s := &smppSim{kit: k.dir, log: filepath.Join(run, "smppsim.out"), moDir: filepath.Join(run, "mo"), port: freePort(t, false)}
	if err := os.MkdirAll(s.moDir, 0o755); err != nil {
		t.Fatal(err)
	}
	tailOnFailure(t, s.log)
	t.Cleanup(func() { s.stop(t) })
	return s
}

// start runs `perl smppsim.pl PORT 0.2 MO_DIR`, its output appended to the log.
func (s *smppSim) start(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s.cmd = exec.Command("perl", filepath.Join(s.kit, "smppsim.pl"), strconv.Itoa(s.port), "0.2", s.moDir)
	s.cmd.Stdout, s.cmd.Stderr = f, f
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting smppsim.pl: %v", err)
	}
	waitFor(t, 10*time.Second, "smppsim.pl to listen", func() bool {
		return bytes.Contains(s.logBytes(t), []byte(fmt.Sprintf("LISTEN 127.0.0.1:%d pid=%d", s.port, s.cmd.Process.Pid)))
	})
}

// stop sends SIGTERM (smppsim.pl then stops the children serving connections).
func (s *smppSim) stop(t *testing.T) {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}

func (s *smppSim) logBytes(t *testing.T) []byte {
	b, err := os.ReadFile(s.log)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return b
}

// mo makes the simulator send a handset's SMS (deliver_sm) to every bind.
func (s *smppSim) mo(t *testing.T, from, to, text string) {
	t.Helper()
	tmp := filepath.Join(s.moDir, ".mo")
	line := strings.TrimPrefix(from, "+") + " " + strings.TrimPrefix(to, "+") + " " + text + "\n"
	if err := os.WriteFile(tmp, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.moDir, fmt.Sprintf("mo-%d", time.Now().UnixNano()))); err != nil {
		t.Fatal(err)
	}
}

// submit is one SUBMIT_SM line of the simulator's log.
type submit struct {
	ID, From, To string
	DCS          int
	Text         []byte // short_message as sent: UDH included
}

// submits reads the SUBMIT_SM lines of the log: "SUBMIT_SM id=.. from=..
// to=.. registered_delivery=.. dcs=.. text=<the short_message bytes>".
func (s *smppSim) submits(t *testing.T) []submit {
	var out []submit
	for _, l := range bytes.Split(s.logBytes(t), []byte("\n")) {
		rest, ok := bytes.CutPrefix(l, []byte("SUBMIT_SM "))
		if !ok {
			continue
		}
		head, text, ok := bytes.Cut(rest, []byte(" text="))
		if !ok {
			t.Fatalf("unreadable log line %q", l)
		}
		var sub submit
		for _, f := range strings.Fields(string(head)) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "id":
				sub.ID = v
			case "from":
				sub.From = v
			case "to":
				sub.To = v
			case "dcs":
				sub.DCS, _ = strconv.Atoi(v)
			}
		}
		sub.Text = append([]byte(nil), text...)
		out = append(out, sub)
	}
	return out
}

// to lists the submits to a number (E.164 with or without +).
func (s *smppSim) to(t *testing.T, number string) []submit {
	var out []submit
	for _, sub := range s.submits(t) {
		if sub.To == strings.TrimPrefix(number, "+") {
			out = append(out, sub)
		}
	}
	return out
}

// ---- Kannel with the fake SMSC ----

// kannel is Kannel (bearerbox + smsbox) with the kit's fake SMSC.
type kannel struct {
	kit, run                            string
	admin, box, sendsms, fakesmsc, hook int
}

// startKannelFake starts the kit's kannel-fake-start.sh in a copy of the kit
// whose kannel-fake.conf.in sends inbound SMS to moURL (textback's) instead of
// the kit's HTTP logger, and lets a sendsms-user message have 10 parts.
func (k *kit) startKannelFake(t *testing.T, moURL string) *kannel {
	t.Helper()
	dir := k.copyTo(t)
	conf := filepath.Join(dir, "kannel", "kannel-fake.conf.in")
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	replaced := false
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "get-url = "):
			l, replaced = "get-url = "+strconv.Quote(moURL), true
		case l == "password = foobar":
			l += "\nmax-messages = 10"
		}
		lines = append(lines, l)
	}
	if !replaced {
		t.Fatal("kannel-fake.conf.in has no get-url line")
	}
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	kn := &kannel{kit: dir, run: filepath.Join(t.TempDir(), "run"), admin: freePort(t, false), box: freePort(t, false),
		sendsms: freePort(t, false), fakesmsc: freePort(t, false), hook: freePort(t, false)}
	env := kn.env()
	t.Cleanup(func() { script(t, dir, env, "kannel-stop.sh") })
	tailOnFailure(t, filepath.Join(kn.run, "kannel", "bearerbox.log"), filepath.Join(kn.run, "kannel", "smsbox.log"),
		filepath.Join(kn.run, "kannel", "fakesmsc.out"))
	script(t, dir, env, "kannel-fake-start.sh")
	return kn
}

func (kn *kannel) env() []string {
	return []string{"PEERS_RUN_DIR=" + kn.run, fmt.Sprintf("PEERS_KANNEL_ADMIN_PORT=%d", kn.admin), fmt.Sprintf("PEERS_KANNEL_BOX_PORT=%d", kn.box),
		fmt.Sprintf("PEERS_KANNEL_SENDSMS_PORT=%d", kn.sendsms), fmt.Sprintf("PEERS_FAKESMSC_PORT=%d", kn.fakesmsc), fmt.Sprintf("PEERS_SMS_HOOK_PORT=%d", kn.hook)}
}

func (kn *kannel) sendsmsURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d/cgi-bin/sendsms", kn.sendsms)
}

// fakeSMS is one SMS the fake SMSC printed.
type fakeSMS struct{ From, To, Type, Text string }

// received reads the fake SMSC's output: "Got message N: <FROM TO TYPE TEXT>".
func (kn *kannel) received(t *testing.T) []fakeSMS {
	f, err := os.Open(filepath.Join(kn.run, "kannel", "fakesmsc.out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []fakeSMS
	b, _ := io.ReadAll(f)
	for _, l := range strings.Split(string(b), "\n") {
		_, msg, ok := strings.Cut(l, "DEBUG: Got message ")
		if !ok {
			continue
		}
		_, msg, _ = strings.Cut(msg, ": <")
		msg = strings.TrimSuffix(msg, ">")
		p := strings.SplitN(msg, " ", 4)
		if len(p) == 4 {
			out = append(out, fakeSMS{p[0], p[1], p[2], p[3]})
		}
	}
	return out
}

// mo sends an SMS from a handset through the fake SMSC (the kit's kannel-fake-mo.sh).
func (kn *kannel) mo(t *testing.T, from, to, text string) {
	t.Helper()
	script(t, kn.kit, kn.env(), "kannel-fake-mo.sh", strings.TrimPrefix(from, "+"), strings.TrimPrefix(to, "+"), text)
}
