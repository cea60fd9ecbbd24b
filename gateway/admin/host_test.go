package admin

import "testing"

// Only names no DNS answer can supply count as this machine.
func TestLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "localhost:9090": true, "LocalHost:1": true,
		"127.0.0.1": true, "127.0.0.1:9090": true, "127.255.0.9": true,
		"[::1]": true, "[::1]:9090": true, "::1": true,

		"":                           false,
		":9090":                      false,
		"localhost.":                 false,
		"localhost.attacker.example": false,
		"127.0.0.1.nip.io":           false,
		"rebind.attacker.example":    false,
		"10.0.0.1":                   false,
		"0.0.0.0:9090":               false,
		"[::]:9090":                  false,
		"127.1":                      false,
		"[127.0.0.1":                 false,
	} {
		if got := loopbackHost(host); got != want {
			t.Errorf("loopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}
