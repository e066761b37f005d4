package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds a Chromium for the browser tests: $ATTUNE_CHROMIUM, else Debian's
// chromium on the PATH (scripts/services.sh installs it).
func chromiumPath() string {
	if p := os.Getenv("ATTUNE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// screenshotDir is where the browser tests leave their screenshots for review
// (bin/ is ignored by git).
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "bin", "screenshots"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestE2EDashboardInABrowser drives the dashboard of a real `attune serve` with Chromium:
// log in through the form, watch an execution started through the API appear on the list
// without a reload, open it, cancel it with the button and see it cancelled, re-run it and
// land on the new execution's page; answer an
// inquiry through the form its schema makes. Screenshots at
// 1280×800 and 390×844 go to bin/screenshots.
func TestE2EDashboardInABrowser(t *testing.T) {
	t.Parallel()
	browser := chromiumPath()
	if browser == "" {
		t.Skip("no chromium found (install it with scripts/services.sh, or set ATTUNE_CHROMIUM): the browser test cannot run")
	}
	sys := startSystem(t, "inprocess", nil)
	operator := sys.tokenFor("operator")
	shots := screenshotDir(t)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.WindowSize(1280, 800),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-gpu", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	tab, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	// The first action starts the browser, on a context without a deadline (one would stop
	// the browser); the steps after it share one deadline.
	if err := chromedp.Do(tab, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium (%s): %v", browser, err)
	}
	ctx, cancelTimeout := context.WithTimeout(tab, 3*time.Minute) // a loaded machine is slow
	t.Cleanup(cancelTimeout)

	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	get := func(what string, a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	shoot := func(name string) {
		t.Helper()
		for _, size := range []struct {
			w, h   int64
			suffix string
		}{{1280, 800, "1280x800"}, {390, 844, "390x844"}} {
			step("resize to "+size.suffix, chromedp.EmulateViewport(size.w, size.h))
			png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
			if err != nil {
				t.Fatalf("screenshot %s: %v", name, err)
			}
			path := filepath.Join(shots, name+"-"+size.suffix+".png")
			if err := os.WriteFile(path, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("screenshot: %s", path)
		}
		step("back to the desktop size", chromedp.EmulateViewport(1280, 800))
	}

	// An anonymous visitor is sent to the login form; the token logs in and comes back.
	step("open /executions", chromedp.Navigate(sys.url+"/executions"), chromedp.WaitVisible(chromedp.CSS(`input[name="token"]`)))
	shoot("login")
	step("log in", chromedp.SendKeys(chromedp.CSS(`input[name="token"]`), operator), chromedp.Submit(chromedp.CSS(`input[name="token"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#live`)))
	if path := get("where the login led", chromedp.Evaluate[string](`location.pathname`)); path != "/executions" {
		t.Fatalf("after logging in the browser is at %s, want /executions", path)
	}
	// The page follows the event stream (authenticated by the cookie) once it is open, and
	// has re-read the list since.
	step("the live stream opens", chromedp.WaitReady(chromedp.CSS(`html.live-on[data-live-synced]`)))

	x, err := sys.api.Run(ctx, "core.local", map[string]json.RawMessage{"cmd": json.RawMessage(`"echo started; sleep 30"`)})
	if err != nil {
		t.Fatal(err)
	}
	row := `#x-` + x.ID
	step("the new execution appears without a reload", chromedp.WaitVisible(chromedp.CSS(row)))
	shoot("executions")

	step("open the execution", chromedp.Click(chromedp.CSS(row+` a`)), chromedp.WaitVisible(chromedp.CSS(`#cancel`)),
		chromedp.WaitReady(chromedp.CSS(`html.live-on[data-live-synced]`)))
	if params := get("read its parameters", chromedp.Text(chromedp.CSS(`#params + pre`))); !strings.Contains(params, "sleep 30") {
		t.Fatalf("the execution's page shows parameters %q, want the command", params)
	}
	// Its output arrives while it runs: the line it printed before sleeping.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if out := get("read its live output", chromedp.Text(chromedp.CSS(`#live-stdout`))); strings.Contains(out, "started") {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the running execution's page shows output %q after 30s, want the line it printed", out)
		}
	}
	shoot("execution")

	step("cancel it", chromedp.Click(chromedp.CSS(`#cancel`)))
	// The form posts and the page comes back; then the live region follows the cancel to its
	// end. Reads during the navigation fail: poll until the deadline.
	var status string
	var readErr error
	deadline := time.Now().Add(90 * time.Second)
	for status != "cancelled" {
		if time.Now().After(deadline) {
			api, _ := sys.api.Execution(ctx, x.ID)
			t.Fatalf("the page shows %q (last read error: %v) 90s after the cancel, want cancelled; the API has %s", status, readErr, api.Status)
		}
		time.Sleep(100 * time.Millisecond) // polling the DOM with a deadline, not proving an absence
		status, readErr = chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector("#status") || {}).textContent || ""`))
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#cancel").length`)); err != nil || n != 0 {
		t.Fatalf("a cancelled execution offers %d cancel buttons (%v), want none", n, err)
	}
	shoot("execution-cancelled")
	if got, err := sys.api.Execution(ctx, x.ID); err != nil || got.Status != "cancelled" {
		t.Fatalf("the API has the execution %s (%v), want cancelled", got.Status, err)
	}

	// Re-run it with the button: the browser lands on the new execution's page (which waits
	// for the read model to have it, if it must).
	step("re-run it", chromedp.Click(chromedp.CSS(`#rerun`)))
	var rerunID string
	deadline = time.Now().Add(60 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("60s after the re-run the browser is at %q (last read error: %v), want the new execution's page", rerunID, readErr)
		}
		time.Sleep(100 * time.Millisecond) // polling the DOM with a deadline, not proving an absence
		rerunID, readErr = chromedp.Run(ctx, chromedp.Evaluate[string](
			`document.querySelector("#status") && location.pathname !== "/executions/`+x.ID+`" ? location.pathname.replace("/executions/", "") : ""`))
		if rerunID != "" {
			break
		}
	}
	shoot("execution-rerun")
	if got, err := sys.api.Execution(ctx, rerunID); err != nil || got.RerunOf != x.ID {
		t.Fatalf("the page's execution %s is a re-run of %q (%v), want of %s", rerunID, got.RerunOf, err, x.ID)
	}

	// An inquiry, answered through the form its schema makes.
	ask, err := sys.api.Run(ctx, "core.ask", map[string]json.RawMessage{
		"schema": json.RawMessage(`{"approved": {"type": "boolean", "required": true}, "comment": {"type": "string"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	step("the inquiry appears on the pending list", chromedp.Navigate(sys.url+"/inquiries"), chromedp.WaitVisible(chromedp.CSS(`#q-`+ask.ID)))
	step("open it", chromedp.Click(chromedp.CSS(`#q-`+ask.ID+` a`)), chromedp.WaitVisible(chromedp.CSS(`#respond-button`)),
		chromedp.WaitReady(chromedp.CSS(`html.live-on[data-live-synced]`)))
	step("fill the form", chromedp.Click(chromedp.CSS(`#a-approved`)), chromedp.SendKeys(chromedp.CSS(`#a-comment`), "ship it"))
	shoot("inquiry")
	step("send the answer", chromedp.Click(chromedp.CSS(`#respond-button`)))
	deadline = time.Now().Add(60 * time.Second)
	for status = ""; status != "responded"; {
		if time.Now().After(deadline) {
			t.Fatalf("the inquiry's page shows %q (last read error: %v) 60s after the answer, want responded", status, readErr)
		}
		time.Sleep(100 * time.Millisecond) // polling the DOM with a deadline, not proving an absence
		status, readErr = chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector("#status") || {}).textContent || ""`))
	}
	shoot("inquiry-answered")
	q, err := sys.api.Inquiry(ctx, ask.ID)
	var answer struct {
		Approved bool   `json:"approved"`
		Comment  string `json:"comment"`
	}
	if err != nil || q.Responder != "operator-user" || json.Unmarshal(q.Response, &answer) != nil || !answer.Approved || answer.Comment != "ship it" {
		t.Fatalf("the API has the inquiry answered by %q with %s (%v), want the form's answer by operator-user", q.Responder, q.Response, err)
	}

	// The overview charts this half hour's executions; the audit page shows the log's head.
	step("the overview's chart", chromedp.Navigate(sys.url+"/"), chromedp.WaitVisible(chromedp.CSS(`#chart rect`)))
	shoot("overview")
	step("the audit page", chromedp.Navigate(sys.url+"/audit"), chromedp.WaitVisible(chromedp.CSS(`#log-head`)))
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#checkpoints tbody tr").length`)); err != nil || n < 2 {
		t.Fatalf("the audit page lists %d readers (%v), want the relay and the projections", n, err)
	}
	shoot("audit")
}
