package main

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/waitroom/waitroom/internal/testenv"
)

// A person who opens the demo ten minutes after it started still finds a
// line that moves: the demo runs ten simulated minutes (room and crowd 30
// times faster, 20 s), then the test sets the room to two admissions a
// second through the dashboard's API — what an operator can do in the demo
// — so a browser watching at a person's pace sees each step. Headless
// Chromium opens the site as a new visitor: it gets the queue page, its
// position falls and never rises, and it reaches the ticket site.
func TestDemoInBrowserAfterTenMinutes(t *testing.T) {
	chromium := testenv.Chromium(t)
	t.Parallel()
	const scale = 30
	d := startDemo(t, demoConfig{Scale: scale, CrowdTick: 50 * time.Millisecond})
	time.Sleep(10 * time.Minute / scale)
	f := d.figures(t)
	if f.AdmittedTotal < demoAdmitPerMinute*10/2 {
		t.Fatalf("after ten simulated minutes only %d admitted: %+v", f.AdmittedTotal, f)
	}

	req, _ := http.NewRequest(http.MethodPatch, d.addrs.Admin+"/admin/rooms/default", strings.NewReader(`{"admit_per_minute":120}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PATCH admit_per_minute: %d", resp.StatusCode)
	}
	testenv.WaitFor(t, 30*time.Second, "a line at the new pace", func() bool {
		f := d.figures(t)
		return f.AdmitPerMinute == 120 && f.Waiting >= 5
	})

	dir := t.TempDir()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), testenv.ChromiumOptions(chromium, dir)...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil { // starts Chromium, for the life of ctx
		t.Fatalf("start chromium: %v", err)
	}
	nctx, ncancel := context.WithTimeout(ctx, 30*time.Second)
	err = chromedp.Do(nctx, chromedp.Navigate(d.addrs.Site+"/"))
	ncancel()
	if err != nil {
		t.Fatalf("open %s: %v", d.addrs.Site, err)
	}
	eval := func(expr string) (string, error) {
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		defer ccancel()
		return chromedp.Run(cctx, chromedp.Evaluate[string](expr))
	}

	// Watch the position until it has fallen three times, then until the
	// visitor is on the ticket site.
	const positionJS = `(() => { const p = document.getElementById('wr-page'), e = document.getElementById('wr-position');
		return p && p.dataset.state === 'queued' && e ? e.textContent.trim() : '' })()`
	const siteJS = `String(document.querySelector('ul.events') !== null)`
	var positions []int
	deadline := time.Now().Add(90 * time.Second)
	for {
		if time.Now().After(deadline) {
			text, _ := eval(`document.body ? document.body.innerText : ""`)
			t.Fatalf("positions %v, and no ticket site within 90 s; page:\n%s", positions, text)
		}
		if on, err := eval(siteJS); err == nil && on == "true" {
			break
		}
		s, err := eval(positionJS)
		if n, perr := strconv.Atoi(strings.ReplaceAll(s, ",", "")); err == nil && perr == nil && n > 0 {
			if k := len(positions); k == 0 || positions[k-1] != n {
				if k > 0 && n > positions[k-1] {
					t.Fatalf("position went up: %v then %d", positions, n)
				}
				positions = append(positions, n)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(positions) < 4 {
		t.Fatalf("positions seen %v: want the queue page and at least three steps down before the site", positions)
	}
	t.Logf("positions in the browser: %v", positions)
	if dir := os.Getenv("WAITROOM_SCREENSHOTS"); dir != "" {
		if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(90)); err == nil {
			_ = os.WriteFile(dir+"/demo-after-queue.png", png, 0o644)
		}
	}
}
