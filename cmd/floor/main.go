// Command floor is the reference point of the gateway's proxy benchmark:
// what Go's net/http can do on the machine at hand with none of waitroom's
// work in the way. It serves one of two things on -listen:
//
//	floor -mode hello -listen 127.0.0.1:18086
//	    a bare net/http server answering every request with the same body
//	    as the benchmark's nginx origin: the most requests per second any
//	    net/http server reaches here, the ceiling of a Go proxy's own side;
//	floor -mode proxy -listen 127.0.0.1:18085 -origin http://127.0.0.1:18081
//	    a bare httputil.ReverseProxy (Rewrite to the origin, keep-alive
//	    transport sized like the gateway's): the standard library's proxy
//	    before any waiting-room logic.
//
// .ci/bench-gateway runs both beside nginx and the gateway, in one wrk run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
)

const body = "origin page: hello from the ticket site\n"

func main() {
	mode := flag.String("mode", "hello", "hello or proxy")
	listen := flag.String("listen", "127.0.0.1:18086", "address to serve on")
	origin := flag.String("origin", "http://127.0.0.1:18081", "origin of -mode proxy")
	flag.Parse()

	var h http.Handler
	switch *mode {
	case "hello":
		b := []byte(body)
		h = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write(b)
		})
	case "proxy":
		u, err := url.Parse(*origin)
		if err != nil || u.Scheme != "http" || u.Host == "" {
			fmt.Fprintf(os.Stderr, "floor: -origin must be an http:// URL, got %q\n", *origin)
			os.Exit(2)
		}
		h = &httputil.ReverseProxy{
			Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(u); r.SetXForwarded() },
			Transport: &http.Transport{MaxIdleConnsPerHost: 1024, DisableCompression: true, ForceAttemptHTTP2: false},
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				if !errors.Is(err, context.Canceled) { // wrk hanging up at the end of a run
					log.Printf("floor: %s: %v", r.URL, err)
				}
				w.WriteHeader(http.StatusBadGateway)
			},
		}
	default:
		fmt.Fprintf(os.Stderr, "floor: -mode must be hello or proxy, got %q\n", *mode)
		os.Exit(2)
	}
	log.Fatal(http.ListenAndServe(*listen, h))
}
