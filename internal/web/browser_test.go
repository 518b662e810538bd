package web_test

// Browser tests: Debian's Chromium, driven with chromedp, walks the seed
// article (Calls → Autoresponder) as a member and as an administrator of
// a textback started in-process in demo mode.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/textback/textback/internal/apptest"
)

// The seed's example message: 66 characters of GSM-7, one segment.
const seedMessage = "Hello, we missed your call. We will call you back within the hour."

const (
	browserTimeout = 3 * time.Minute  // the whole test, Chromium included (~15 s alone, ~40 s with -race on a busy machine)
	stepTimeout    = 10 * time.Second // one browser action
)

// chromiumPath is Debian's Chromium, or "" when it is not installed.
func chromiumPath() string {
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return ""
}

// inCI is true when the CI variable is set: a missing browser then fails
// the test instead of skipping it, so CI cannot pass without running it.
func inCI() bool {
	v := strings.TrimSpace(os.Getenv("CI"))
	return v != "" && v != "0" && !strings.EqualFold(v, "false")
}

// startBrowser starts one headless Chromium for the test; it closes when
// the test ends or browserTimeout passes.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		msg := "Chromium not installed: no /usr/bin/chromium and no chromium on PATH (CI installs Debian's chromium)"
		if inCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	profile := t.TempDir() // removed after the browser has exited (cleanups run last-in first-out)
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 800),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("starting Chromium (%s): %v", path, err)
	}
	return browserCtx
}

// tab is one signed-in person: a browser context of their own (own
// cookies) with one tab.
type tab struct {
	t    *testing.T
	who  string
	ctx  context.Context
	base string
}

func newTab(t *testing.T, browser context.Context, who, base string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first action opens the tab and binds it to the context it runs
	// with: that must be ctx itself, not a step's shorter-lived context.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("%s: opening a tab: %v", who, err)
	}
	return &tab{t: t, who: who, ctx: ctx, base: base}
}

// fatalf stops the test, saying where the browser was.
func (p *tab) fatalf(format string, args ...any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
	defer cancel()
	where, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname + location.search + " — " +
		(document.getElementById("error")?.innerText || document.querySelector("main")?.innerText || "").slice(0, 300)`))
	p.t.Fatalf("%s: %s\n(page: %s)", p.who, fmt.Sprintf(format, args...), where)
}

func (p *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.fatalf("%s: %v", what, err)
	}
}

// eval runs a JavaScript expression and decodes its value.
func eval[T any](p *tab, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// open navigates to a path and returns the HTTP status of the page.
func (p *tab) open(path string) int {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(p.base+path))
	if err != nil {
		p.fatalf("opening %s: %v", path, err)
	}
	return int(resp.Status)
}

// follow clicks a link or a submit button and waits for the page it leads
// to (after redirects); it returns that page's HTTP status.
func (p *tab) follow(id string) int {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID(id)))
	if err != nil {
		p.fatalf("clicking #%s: %v", id, err)
	}
	return int(resp.Status)
}

// mustFollow is follow expecting 200.
func (p *tab) mustFollow(id string) {
	p.t.Helper()
	if status := p.follow(id); status != http.StatusOK {
		p.fatalf("clicking #%s led to a %d page", id, status)
	}
}

func (p *tab) mustOpen(path string) {
	p.t.Helper()
	if status := p.open(path); status != http.StatusOK {
		p.fatalf("%s answered %d", path, status)
	}
}

// has tells whether an element with this id is on the page.
func (p *tab) has(id string) bool {
	p.t.Helper()
	return eval[bool](p, fmt.Sprintf(`document.getElementById(%q) !== null`, id))
}

// visible tells whether the element is rendered (not hidden, has a box).
func (p *tab) visible(id string) bool {
	p.t.Helper()
	return eval[bool](p, fmt.Sprintf(`(() => { const el = document.getElementById(%q);
		return el !== null && !el.closest("[hidden]") && el.getClientRects().length > 0; })()`, id))
}

// text is the element's rendered text; the element must be on the page.
func (p *tab) text(id string) string {
	p.t.Helper()
	v := eval[*string](p, fmt.Sprintf(`document.getElementById(%q)?.innerText ?? null`, id))
	if v == nil {
		p.fatalf("no #%s on the page", id)
	}
	return strings.TrimSpace(*v)
}

func (p *tab) value(id string) string {
	p.t.Helper()
	v := eval[*string](p, fmt.Sprintf(`document.getElementById(%q)?.value ?? null`, id))
	if v == nil {
		p.fatalf("no #%s on the page", id)
	}
	return *v
}

func (p *tab) attr(id, name string) string {
	p.t.Helper()
	v := eval[*string](p, fmt.Sprintf(`document.getElementById(%q)?.getAttribute(%q) ?? null`, id, name))
	if v == nil {
		p.fatalf("no #%s or no %s attribute on it", id, name)
	}
	return *v
}

// poll waits until a JavaScript condition holds (what the page's own
// scripts change after a fetch), for at most 5 s.
func (p *tab) poll(cond string) error {
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(5*time.Second),
		chromedp.WithPollingInterval(20*time.Millisecond)))
	return err
}

func (p *tab) waitFor(what, cond string) {
	p.t.Helper()
	if err := p.poll(cond); err != nil {
		p.fatalf("waiting for %s: %v", what, err)
	}
}

// waitText waits until #id's text contains want.
func (p *tab) waitText(id, want string) {
	p.t.Helper()
	if err := p.poll(fmt.Sprintf(`(document.getElementById(%q)?.innerText ?? "").includes(%q)`, id, want)); err != nil {
		p.fatalf("waiting for #%s to say %q: it says %q (%v)", id, want, p.textOrEmpty(id), err)
	}
}

func (p *tab) textOrEmpty(id string) string {
	return eval[string](p, fmt.Sprintf(`document.getElementById(%q)?.innerText ?? ""`, id))
}

func (p *tab) wantText(id, want string) {
	p.t.Helper()
	if got := p.text(id); !strings.Contains(got, want) {
		p.fatalf("#%s says %q, want it to contain %q", id, got, want)
	}
}

func (p *tab) wantAbsent(ids ...string) {
	p.t.Helper()
	for _, id := range ids {
		if p.has(id) {
			p.fatalf("#%s is on the page; it must not be", id)
		}
	}
}

func (p *tab) signIn(email, password string) {
	p.t.Helper()
	p.mustOpen("/signin")
	p.do("filling in the sign-in form",
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password))
	p.mustFollow("signin")
	if path := eval[string](p, `location.pathname`); path != "/calls" {
		p.fatalf("signed in, landed on %s, want /calls", path)
	}
}

// balance is the balance Payment and billing shows.
func (p *tab) balance() int {
	p.t.Helper()
	p.mustOpen("/billing")
	s := p.text("balance")
	m := regexp.MustCompile(`-?\d[\d,]*`).FindString(s)
	n, err := strconv.Atoi(strings.ReplaceAll(m, ",", ""))
	if err != nil {
		p.fatalf("#balance says %q: no number in it", s)
	}
	return n
}

// simulateMissedCall presses the demo's button on the Call log and waits
// until the call's autoreply is no longer being sent; it returns the
// outcome the log shows. Each call comes from its own number, so the row
// is found by its caller (two calls in the same second may list in either
// order).
func (p *tab) simulateMissedCall(from string) string {
	p.t.Helper()
	p.mustOpen("/calls")
	p.do("typing the caller", chromedp.SetValue(chromedp.ID("sim-from"), from))
	p.mustFollow("simulate-call")
	p.wantText("flash", "Simulated a missed call")
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := eval[*string](p, fmt.Sprintf(`(() => {
			for (const tr of document.querySelectorAll("#call-log tbody tr")) {
				if (tr.querySelector("td[data-label=Caller]")?.innerText.trim() === %q)
					return tr.querySelector("td[data-label=Autoreply]").innerText.trim();
			}
			return null; })()`, from))
		if out == nil {
			p.fatalf("the call from %s is not in the Call log", from)
		}
		if *out != "Sending…" && *out != "" || time.Now().After(deadline) {
			return *out
		}
		time.Sleep(50 * time.Millisecond)
		p.mustOpen("/calls")
	}
}

// screenshot saves the page at 1280×800 (or the phone size) under
// docs/screenshots/ when TEXTBACK_SCREENSHOTS=1.
func (p *tab) screenshot(name string, width, height int64) {
	p.t.Helper()
	if os.Getenv("TEXTBACK_SCREENSHOTS") != "1" {
		return
	}
	opts := []chromedp.EmulateViewportOption{}
	if width < 600 {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulatePortrait)
	}
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height, opts...), chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`)); err != nil {
		p.fatalf("sizing the page for %s: %v", name, err)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join("..", "..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.do("restoring the desktop size", chromedp.EmulateViewport(1280, 800))
}

// switchState is what the autoresponder switch shows after a toggle.
type switchState struct {
	Checked string `json:"checked"`
	Saved   string `json:"saved"`
	Status  string `json:"status"`
}

func (p *tab) switchState() switchState {
	p.t.Helper()
	raw := eval[[]byte](p, `({
		checked: document.getElementById("autoresponder-switch").getAttribute("aria-checked"),
		saved: document.getElementById("switch-saved").innerText,
		status: document.getElementById("autoresponder-status").innerText,
	})`)
	var s switchState
	if err := json.Unmarshal(raw, &s); err != nil {
		p.fatalf("reading the switch: %v", err)
	}
	return s
}

// toggle flips the switch with a mouse click and waits for the answer.
func (p *tab) toggle() switchState {
	p.t.Helper()
	p.do("clearing the last confirmation", chromedp.Evaluate[chromedp.Void](`document.getElementById("switch-saved").textContent = ""`))
	p.do("clicking the switch", chromedp.Click(chromedp.ID("autoresponder-switch")))
	return p.switchAnswered()
}

// toggleWithKeyboard flips the switch the way a keyboard user does: focus
// it, press Space.
func (p *tab) toggleWithKeyboard() switchState {
	p.t.Helper()
	p.do("clearing the last confirmation", chromedp.Evaluate[chromedp.Void](`document.getElementById("switch-saved").textContent = ""`))
	p.do("pressing Space on the switch", chromedp.Focus(chromedp.ID("autoresponder-switch")), chromedp.KeyEvent(" "))
	return p.switchAnswered()
}

func (p *tab) switchAnswered() switchState {
	p.t.Helper()
	p.waitFor("the switch to say whether it saved", `(() => {
		const t = document.getElementById("switch-saved").innerText;
		return t.startsWith("Saved") || t.startsWith("Not saved"); })()`)
	return p.switchState()
}

func TestSeedWalkthrough(t *testing.T) {
	start := time.Now()
	browser := startBrowser(t) // first: without Chromium the test skips before starting textback
	t.Logf("Chromium started in %v", time.Since(start).Round(time.Millisecond))
	e := apptest.New(t, apptest.Options{Demo: true})
	e.AddMember("member@clinic.test", "member")
	admin := newTab(t, browser, "admin", e.Server.URL)
	member := newTab(t, browser, "member", e.Server.URL)
	admin.signIn("admin@clinic.test", "correct horse battery")
	member.signIn("member@clinic.test", "member password")

	// No tracking number yet: the tab tells a member to ask an administrator...
	member.mustOpen("/calls/autoresponder")
	member.wantText("no-tracking-number", "Ask an administrator")
	member.wantAbsent("goto-settings", "message", "autoresponder-switch")

	// ...and gives an administrator the way straight to Settings.
	admin.mustOpen("/calls/autoresponder")
	admin.wantText("no-tracking-number", "No tracking number is configured")
	admin.mustFollow("goto-settings")
	if path := eval[string](admin, `location.pathname`); path != "/calls/settings" {
		admin.fatalf("the link led to %s, want /calls/settings", path)
	}
	admin.do("filling in the tracking number",
		chromedp.SetValue(chromedp.ID("tn-number"), "+14155550100"),
		chromedp.SetValue(chromedp.ID("tn-label"), "Front desk"),
		chromedp.SetValue(chromedp.ID("tn-forward-to"), "+14155550199"),
		chromedp.SetValue(chromedp.ID("tn-ring-timeout"), "20"),
		chromedp.SetValue(chromedp.ID("tn-provider"), "twilio"),
		chromedp.SetValue(chromedp.ID("tn-sms-provider"), "twilio"))
	admin.mustFollow("add-number")
	if admin.has("error") {
		admin.fatalf("adding the number was refused: %s", admin.text("error"))
	}
	if main := eval[string](admin, `document.querySelector("main").innerText`); !strings.Contains(main, "Front desk") || !strings.Contains(main, "415") {
		admin.fatalf("the new number is not listed in Settings: %q", main)
	}
	admin.screenshot("settings.png", 1280, 800)

	// The member writes the seed's message and saves it.
	member.mustOpen("/calls/autoresponder")
	member.wantAbsent("no-tracking-number")
	if !member.visible("best-practices") {
		member.fatalf("the best practices are not shown beside the message")
	}
	member.do("writing the message", chromedp.Evaluate[chromedp.Void](`document.getElementById("message").value = ""`), chromedp.SendKeys(chromedp.ID("message"), seedMessage))
	member.waitText("count-chars", "66")
	member.mustFollow("save-message")
	member.wantText("flash", "Message saved.")
	if member.switchState().Checked != "false" {
		member.fatalf("saving the message switched the autoresponder on")
	}

	// The switch saves itself, from the keyboard. The workspace has no
	// credits yet, so the status line says so and links to billing.
	sw := member.toggleWithKeyboard()
	if !strings.HasPrefix(sw.Saved, "Saved") || sw.Checked != "true" {
		member.fatalf("after Space on the switch: %+v, want Saved and aria-checked=true", sw)
	}
	if !strings.Contains(sw.Status, "below 4 credits") || !member.has("recharge-link") {
		member.fatalf("with 0 credits the status line says %q (recharge link: %v)", sw.Status, member.has("recharge-link"))
	}

	// A fresh load shows both kept, and the counter agrees with the seed.
	member.mustOpen("/calls/autoresponder")
	if got := member.value("message"); got != seedMessage {
		member.fatalf("after a reload the message is %q", got)
	}
	if got := member.attr("autoresponder-switch", "aria-checked"); got != "true" {
		member.fatalf("after a reload the switch is aria-checked=%s", got)
	}
	for id, want := range map[string]string{"count-chars": "66", "count-encoding": "GSM-7", "count-segments": "1"} {
		if got := member.text(id); got != want {
			member.fatalf("#%s says %q, want %q", id, got, want)
		}
	}
	member.wantText("counter", "4 credits per SMS")
	member.wantText("autoresponder-status", "below 4 credits")
	if href := member.attr("recharge-link", "href"); href != "/billing" {
		member.fatalf("the recharge link goes to %q", href)
	}

	// A curly quote forces Unicode: the page says so and puts it right.
	if member.visible("unicode-warning") {
		member.fatalf("the Unicode warning shows for a GSM-7 message")
	}
	member.do("typing a curly quote at the end",
		chromedp.Focus(chromedp.ID("message")),
		chromedp.Evaluate[chromedp.Void](`(m => m.setSelectionRange(m.value.length, m.value.length))(document.getElementById("message"))`),
		chromedp.KeyEvent(" Don’t worry."))
	member.waitText("count-encoding", "UCS-2")
	member.waitFor("the Unicode warning", `!document.getElementById("unicode-warning").hidden`)
	member.wantText("unicode-chars", "’")
	member.do("replacing the curly quote", chromedp.Click(chromedp.ID("make-plain")))
	member.waitText("count-encoding", "GSM-7")
	member.waitFor("the Unicode warning to go", `document.getElementById("unicode-warning").hidden`)
	if got, want := member.value("message"), seedMessage+" Don't worry."; got != want {
		member.fatalf("after the replacement the message is %q, want %q", got, want)
	}
	member.mustOpen("/calls/autoresponder") // nothing was saved: back to the saved text
	if got := member.value("message"); got != seedMessage {
		member.fatalf("the unsaved edit stayed: %q", got)
	}

	// The administrator tops up on Payment and billing.
	admin.mustOpen("/billing")
	if n := admin.balance(); n != 0 {
		admin.fatalf("a new workspace has %d credits", n)
	}
	admin.do("filling in the top-up",
		chromedp.SetValue(chromedp.ID("topup-credits"), "10"),
		chromedp.SetValue(chromedp.ID("topup-reference"), "Browser test top-up"))
	admin.mustFollow("topup")
	if admin.has("error") {
		admin.fatalf("the top-up was refused: %s", admin.text("error"))
	}
	before := admin.balance()
	if before != 10 {
		admin.fatalf("after topping up 10 credits the balance shows %d", before)
	}

	// A missed call is texted back: "SMS sent", 4 credits, the seed's text.
	if out := member.simulateMissedCall("+14155550123"); out != "SMS sent" {
		member.fatalf("the missed call's autoreply says %q, want SMS sent", out)
	}
	if after := member.balance(); after != before-4 {
		member.fatalf("the balance went from %d to %d, want a drop of 4", before, after)
	}
	sent := e.Twilio.Messages()
	if len(sent) != 1 || sent[0].To != "+14155550123" || sent[0].Body != seedMessage {
		t.Fatalf("Twilio got %+v, want one SMS with the seed's message to the caller", sent)
	}
	member.mustOpen("/calls/autoresponder")
	member.wantText("autoresponder-status", "On: callers you miss receive this SMS")
	member.wantAbsent("recharge-link")
	member.wantText("recent-autoreplies", "SMS sent")
	admin.mustOpen("/calls/autoresponder")
	admin.screenshot("autoresponder.png", 1280, 800)

	// Phone width: the form and the switch are on screen and work.
	member.do("narrowing to a phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulatePortrait))
	member.mustOpen("/calls/autoresponder")
	if w := eval[int](member, `document.documentElement.scrollWidth`); w > 390 {
		member.fatalf("at 390 px wide the page is %d px wide: it scrolls sideways", w)
	}
	for _, id := range []string{"message", "save-message", "autoresponder-switch", "autoresponder-status"} {
		fits := eval[bool](member, fmt.Sprintf(`(() => { const r = document.getElementById(%q).getBoundingClientRect();
			return r.width > 0 && r.height > 0 && r.left >= 0 && r.right <= 390; })()`, id))
		if !fits {
			member.fatalf("#%s is not within the 390 px screen", id)
		}
	}
	if sw := member.toggle(); !strings.HasPrefix(sw.Saved, "Saved") || sw.Checked != "false" {
		member.fatalf("tapping the switch at phone width: %+v", sw)
	}
	if sw := member.toggle(); !strings.HasPrefix(sw.Saved, "Saved") || sw.Checked != "true" {
		member.fatalf("tapping the switch again at phone width: %+v", sw)
	}
	// With the confirmation beside it, the switch keeps its size and its
	// knob (once it has slid over) stays inside it.
	if err := member.poll(`(() => {
		const sw = document.getElementById("autoresponder-switch"), k = sw.querySelector(".knob");
		const s = sw.getBoundingClientRect(), r = k.getBoundingClientRect();
		return s.width >= 44 && r.left >= s.left + s.width / 2 - 1 && r.right <= s.right; })()`); err != nil {
		member.fatalf("at phone width the switch is squeezed: %s", eval[string](member, `(() => {
			const s = document.getElementById("autoresponder-switch").getBoundingClientRect();
			const k = document.querySelector("#autoresponder-switch .knob").getBoundingClientRect();
			return "switch " + s.left + "–" + s.right + ", knob " + k.left + "–" + k.right; })()`))
	}
	member.screenshot("autoresponder-phone.png", 390, 844)
	phone := chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulatePortrait)
	member.do("narrowing to a phone", phone) // the screenshot may have widened it
	admin.do("narrowing to a phone", phone)
	for _, pg := range []struct {
		p    *tab
		path string
	}{{member, "/calls"}, {member, "/billing"}, {member, "/usage"}, {admin, "/calls/settings"}} {
		pg.p.mustOpen(pg.path)
		if w := eval[int](pg.p, `document.documentElement.scrollWidth`); w > 390 {
			pg.p.fatalf("at 390 px wide %s is %d px wide: it scrolls sideways", pg.path, w)
		}
	}
	member.do("back to the desktop size", chromedp.EmulateViewport(1280, 800))
	admin.do("back to the desktop size", chromedp.EmulateViewport(1280, 800))

	// Switched off, the next missed call is not texted and costs nothing.
	member.mustOpen("/calls/autoresponder")
	if sw := member.toggleWithKeyboard(); sw.Checked != "false" || !strings.Contains(sw.Saved, "off") || !strings.HasPrefix(sw.Status, "Off") {
		member.fatalf("switching off: %+v", sw)
	}
	if out := member.simulateMissedCall("+14155550124"); out != "Not sent: the autoresponder was off" {
		member.fatalf("with the switch off the autoreply says %q", out)
	}
	if n := member.balance(); n != before-4 {
		member.fatalf("a call with the switch off changed the balance to %d", n)
	}
	admin.mustOpen("/calls")
	admin.screenshot("call-log.png", 1280, 800)

	// A member never sees Settings or Members, and Settings' URL is refused.
	for _, path := range []string{"/calls", "/calls/autoresponder", "/billing", "/usage"} {
		member.mustOpen(path)
		member.wantAbsent("tab-settings", "nav-members")
		if !member.visible("nav-calls") || !member.visible("nav-billing") || !member.visible("nav-usage") {
			member.fatalf("%s: the member's sidebar links are missing", path)
		}
	}
	if status := member.open("/calls/settings"); status != http.StatusForbidden {
		member.fatalf("/calls/settings answered %d to a member, want 403", status)
	}
	member.wantText("error", "Only workspace administrators")
	member.wantAbsent("tn-number", "add-number")

	// Back on, one more SMS leaves 2 credits: the status line warns and
	// its link leads to Payment and billing.
	member.mustOpen("/calls/autoresponder")
	if sw := member.toggle(); sw.Checked != "true" {
		member.fatalf("switching on again: %+v", sw)
	}
	if out := member.simulateMissedCall("+14155550125"); out != "SMS sent" {
		member.fatalf("the third call's autoreply says %q", out)
	}
	member.mustOpen("/calls/autoresponder")
	member.wantText("autoresponder-status", "below 4 credits")
	member.mustFollow("recharge-link")
	if path := eval[string](member, `location.pathname`); path != "/billing" {
		member.fatalf("the recharge link led to %s", path)
	}
	if n := member.balance(); n != before-8 {
		member.fatalf("after two SMS the balance shows %d, want %d", n, before-8)
	}

	// Usage: the two autoreplies cost 8 credits and are not standard SMS.
	member.mustOpen("/usage")
	if got := member.attr("standard-usage", "value"); got != "0" {
		member.fatalf("autoreplies counted towards the monthly limit: the bar is at %s", got)
	}
	for id, want := range map[string]string{"autoreply-count": "2", "credits-used": "8"} {
		if got := member.text(id); got != want {
			member.fatalf("#%s says %q, want %q", id, got, want)
		}
	}

	// Saving fails (the number was removed meanwhile): the switch says so
	// and stays as it was.
	member.mustOpen("/calls/autoresponder")
	r := e.API("GET", "/api/v1/sites/"+e.SiteID+"/tracking-numbers", e.AdminKey, nil)
	var list struct {
		TrackingNumbers []struct{ ID string } `json:"tracking_numbers"`
	}
	if err := json.Unmarshal(r.Body, &list); err != nil || len(list.TrackingNumbers) != 1 {
		t.Fatalf("listing tracking numbers: %d %s", r.Status, r.Body)
	}
	if r := e.API("DELETE", "/api/v1/tracking-numbers/"+list.TrackingNumbers[0].ID, e.AdminKey, nil); r.Status != http.StatusNoContent && r.Status != http.StatusOK {
		t.Fatalf("deleting the tracking number: %d %s", r.Status, r.Body)
	}
	sw = member.toggle()
	if !strings.HasPrefix(sw.Saved, "Not saved") || sw.Checked != "true" {
		member.fatalf("saving the switch without a tracking number: %+v, want Not saved and aria-checked unchanged (true)", sw)
	}
	if !eval[bool](member, `document.getElementById("switch-saved").classList.contains("error")`) {
		member.fatalf("the failed save is not shown as an error")
	}
	member.mustOpen("/calls/autoresponder")
	member.wantText("no-tracking-number", "Ask an administrator")

	t.Logf("walked the seed in %v", time.Since(start).Round(time.Millisecond))
}
