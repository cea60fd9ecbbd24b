package gateway

import (
	"net/http"

	"github.com/waitroom/waitroom/web"
)

// queueData is what the queue page shows.
type queueData = web.QueueData

// pageRenderer draws the gateway's pages (package web's Pages).
type pageRenderer = *web.Pages

func newPages(dir string) (pageRenderer, error) { return web.New(dir) }

func langOf(r *http.Request) string { return web.Lang(r.Header.Get("Accept-Language")) }
