package ticketd

// The shop in a real browser (headless Chromium) on a phone-sized screen,
// behind a stand-in for the gateway that does what the gateway does after a
// purchase: it ends the visitor's admission, so the visitor's next request
// to the shop's API is queued (429) instead of reaching ticketd.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/token"
)

// revokingFront is a minimal gateway for one visitor: it proxies to ticketd
// until a response carries Waitroom-Command: revoke, and from then on
// answers every API request as the gateway answers a visitor without a live
// pass (429, Retry-After, status JSON). Pages and assets still pass, so the
// page itself keeps working.
type revokingFront struct {
	next    http.Handler
	revoked atomic.Bool
	// queued counts the API requests answered 429 after the revoke.
	queued atomic.Int64
}

func (f *revokingFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.revoked.Load() && strings.HasPrefix(r.URL.Path, "/api/") {
		f.queued.Add(1)
		w.Header().Set("Retry-After", "5")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Waitroom-State", "queued")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprint(w, `{"room":"concert-42","state":"queued","position":1,"waiting":1,"eta_seconds":5,"admit_per_minute":60,"opens_at":null}`)
		return
	}
	rec := httptest.NewRecorder()
	f.next.ServeHTTP(rec, r)
	if rec.Header().Get("Waitroom-Command") == "revoke" {
		f.revoked.Store(true)
		rec.Header().Del("Waitroom-Command")
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// On a 390 px wide phone, a visitor buys behind the gateway: the "Left"
// figure on the page follows the sale at once even though the gateway no
// longer lets the visitor's requests through to the API (the page takes the
// stock from the order's own response), and the confirmation with its
// 32-character order number wraps inside the screen instead of widening
// the page. A sale that empties the event turns the button into "Sold out".
func TestBrowserShopOnPhoneBehindGateway(t *testing.T) {
	path := testenv.Chromium(t)
	b := newBackend(t, "sqlite")
	tests := []struct {
		name          string
		width         int64
		stock, buy    int
		wantRemaining string
		wantButton    string
	}{
		{"390px", 390, 10, 2, "8", "Buy"},
		{"320px, last tickets", 320, 3, 3, "0", "Sold out"},
	}

	opts := testenv.ChromiumOptions(path, t.TempDir())
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	root, cancelRoot := chromedp.NewContext(alloc)
	defer cancelRoot()
	if err := chromedp.Do(root); err != nil {
		t.Fatalf("start chromium: %v", err)
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			event := b.createEvent(t, "Busan Rock Festival", "concert-42", tt.stock)
			front := &revokingFront{next: b.srv.Handler()}
			site := httptest.NewServer(front)
			defer site.Close()

			var mu sync.Mutex
			var scriptErrs []string
			ctx, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext(), chromedp.WithListener(func(ev any) {
				if ex, ok := ev.(*runtime.EventExceptionThrown); ok {
					mu.Lock()
					scriptErrs = append(scriptErrs, ex.ExceptionDetails.Text)
					mu.Unlock()
				}
			}))
			defer cancel()
			ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
			defer cancelTimeout()

			httpOnly := true
			if _, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{
				Name: token.CookieName("concert-42"), Value: b.pass(t, "concert-42"), URL: site.URL,
				HTTPOnly: &httpOnly, SameSite: network.CookieSameSiteLax,
			}); err != nil {
				t.Fatal(err)
			}
			err := chromedp.Do(ctx,
				chromedp.EmulateViewport(tt.width, 800),
				chromedp.Navigate(fmt.Sprintf("%s/events/%d?lang=en", site.URL, event)),
				chromedp.WaitVisible(chromedp.CSS("#buy button")),
				chromedp.SetValue(chromedp.CSS(`select[name="quantity"]`), fmt.Sprint(tt.buy)),
				chromedp.Click(chromedp.CSS("#buy button")),
				chromedp.WaitVisible(chromedp.CSS("#result.ok, #result.err")),
			)
			if err != nil {
				t.Fatalf("browser: %v", err)
			}
			if dir := os.Getenv("WAITROOM_SCREENSHOTS"); dir != "" {
				png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
				if err == nil {
					err = os.WriteFile(filepath.Join(dir, fmt.Sprintf("shop-order-%dpx.png", tt.width)), png, 0o644)
				}
				if err != nil {
					t.Errorf("screenshot: %v", err)
				}
			}
			text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("result").textContent`))
			if !strings.Contains(text, "Order confirmed") {
				t.Fatalf("result %q, want the confirmation", text)
			}
			if !front.revoked.Load() {
				t.Fatal("ticketd did not revoke the admission with the order")
			}

			// Give the page a moment to show the stock, then read it.
			var remaining string
			for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				remaining, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("remaining").textContent`))
				if remaining == tt.wantRemaining {
					break
				}
			}
			if remaining != tt.wantRemaining {
				t.Errorf(`"Left" shows %q after the order, want %s (API requests queued by the gateway: %d)`,
					remaining, tt.wantRemaining, front.queued.Load())
			}
			button, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#buy button").textContent.trim()`))
			if button != tt.wantButton {
				t.Errorf("button reads %q, want %q", button, tt.wantButton)
			}

			// Nothing sticks out of the screen: not the page, not the
			// confirmation (the order number is one unbroken 32-character word).
			layout, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]float64](`(function () {
				var r = document.getElementById("result").getBoundingClientRect();
				return {
					viewport: document.documentElement.clientWidth,
					page: document.documentElement.scrollWidth,
					resultRight: r.right,
					resultOverflow: document.getElementById("result").scrollWidth - document.getElementById("result").clientWidth
				};
			})()`))
			if err != nil {
				t.Fatal(err)
			}
			if layout["viewport"] != float64(tt.width) {
				t.Fatalf("viewport is %v px wide, want %d", layout["viewport"], tt.width)
			}
			if layout["page"] > layout["viewport"] || layout["resultRight"] > layout["viewport"] || layout["resultOverflow"] > 0 {
				t.Errorf("the confirmation overflows a %d px screen: %v", tt.width, layout)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(scriptErrs) > 0 {
				t.Fatalf("script errors: %v", scriptErrs)
			}
		})
	}
}
