package ticketd

// A real browser (headless Chromium, Debian's /usr/bin/chromium) runs the
// event page's Buy button against a real ticketd. Outside CI a missing
// Chromium skips the test; under CI=true it fails it.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/waitroom/waitroom/internal/testenv"
	"github.com/waitroom/waitroom/token"
)

// A visitor holding the pass cookie clicks Buy and reads the confirmation
// in Korean; a visitor without a pass is told to go through the waiting
// room. The stock on the page follows the sale.
func TestBrowserBuyButton(t *testing.T) {
	path := testenv.Chromium(t)
	b := newBackend(t, "sqlite")
	event := b.createEvent(t, "브라우저 테스트 콘서트", "concert-42", 10)

	opts := testenv.ChromiumOptions(path, t.TempDir())
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	root, cancelRoot := chromedp.NewContext(alloc)
	defer cancelRoot()
	if err := chromedp.Do(root); err != nil {
		t.Fatalf("start chromium: %v", err)
	}

	tests := []struct {
		name          string
		pass          string
		wantClass     string
		wantText      string
		wantRemaining string
	}{
		{"with pass", b.pass(t, "concert-42"), "ok", "예매가 완료되었습니다: 2매", "8"},
		{"without pass", "", "err", "입장권이 필요합니다", "8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
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

			if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
				Headers: network.Headers{"Accept-Language": "ko-KR,ko;q=0.9"},
			}); err != nil {
				t.Fatal(err)
			}
			if tt.pass != "" {
				httpOnly := true
				if _, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{
					Name: token.CookieName("concert-42"), Value: tt.pass, URL: b.http.URL,
					HTTPOnly: &httpOnly, SameSite: network.CookieSameSiteLax,
				}); err != nil {
					t.Fatal(err)
				}
			}
			err := chromedp.Do(ctx,
				chromedp.Navigate(fmt.Sprintf("%s/events/%d", b.http.URL, event)),
				chromedp.WaitVisible(chromedp.CSS("#buy button")),
				chromedp.SetValue(chromedp.CSS(`select[name="quantity"]`), "2"),
				chromedp.Click(chromedp.CSS("#buy button")),
				chromedp.WaitVisible(chromedp.CSS("#result.ok, #result.err")),
			)
			if err != nil {
				t.Fatalf("browser: %v", err)
			}
			text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("result").textContent`))
			class, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("result").className`))
			// The page refreshes the stock after the order; give it until
			// the test's deadline.
			var remaining string
			for ctx.Err() == nil {
				remaining, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("remaining").textContent`))
				if remaining == tt.wantRemaining {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if class != tt.wantClass || !strings.Contains(text, tt.wantText) {
				t.Fatalf("result %q (class %q), want %q (%s)", text, class, tt.wantText, tt.wantClass)
			}
			if remaining != tt.wantRemaining {
				t.Errorf("page shows %s left, want %s", remaining, tt.wantRemaining)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(scriptErrs) > 0 {
				t.Fatalf("script errors: %v", scriptErrs)
			}
		})
	}
	if r := b.event(t, event).Remaining; r != 8 {
		t.Fatalf("stock %d, want 8", r)
	}
}
