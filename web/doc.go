// Package web holds the pages that waitroom shows to people: the queue page
// a parked visitor watches, the "temporarily unavailable" (503) and
// "bad gateway" (502) pages, and the operator's live dashboard.
//
// Everything is embedded (//go:embed) and rendered with html/template, so a
// single binary serves the pages with no CDN and no build step. An operator
// can replace any template or asset from a directory (New(dir)); a broken
// template is reported by New, at start-up, never in front of a visitor.
//
// The queue page works without JavaScript (it refreshes itself and shows the
// figures rendered on the server) and, with JavaScript, follows the
// visitor's status over the WebSocket, falling back to polling the status
// API, and reloads the original URL once the visitor is admitted. Every
// string exists in English and Korean; Lang picks one from Accept-Language.
//
// The package does not route requests, set headers such as Cache-Control
// or Waitroom-State on pages, or decide a visitor's state: the gateway does.
// Assets returns the one handler that serves files, mounted by the gateway
// under AssetPrefix.
package web
