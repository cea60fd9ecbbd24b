package web

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The embedded queue page keeps text readable: every text colour meets
// WCAG AA (4.5:1) against the card, in the light and the dark scheme.
func TestQueueCSSContrast(t *testing.T) {
	css, err := embedded.ReadFile("files/queue.css")
	if err != nil {
		t.Fatal(err)
	}
	light, dark, ok := strings.Cut(string(css), "@media (prefers-color-scheme: dark)")
	if !ok {
		t.Fatal("queue.css has no dark scheme")
	}
	for name, block := range map[string]string{"light": light, "dark": dark} {
		vars := cssVars(block)
		card, ok := vars["card"]
		if !ok {
			t.Fatalf("%s: no --card colour", name)
		}
		for _, fg := range []string{"text", "muted", "accent", "paused", "closed", "ok"} {
			c, ok := vars[fg]
			if !ok {
				t.Errorf("%s: no --%s colour", name, fg)
				continue
			}
			if r := contrast(c, card); r < 4.5 {
				t.Errorf("%s: --%s %s on --card %s has contrast %.2f, want >= 4.5", name, fg, c, card, r)
			}
		}
	}
}

var cssVar = regexp.MustCompile(`--([a-z]+):\s*(#[0-9a-fA-F]{6})`)

func cssVars(block string) map[string]string {
	vars := map[string]string{}
	for _, m := range cssVar.FindAllStringSubmatch(block, -1) {
		if _, seen := vars[m[1]]; !seen {
			vars[m[1]] = m[2]
		}
	}
	return vars
}

func luminance(hex string) float64 {
	var l float64
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		v, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		c := float64(v) / 255
		if c <= 0.03928 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		l += w * c
	}
	return l
}

func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
}
