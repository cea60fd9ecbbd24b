package token

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// JWKSConfig tunes a JWKSClient. The zero value is usable.
type JWKSConfig struct {
	// HTTPClient fetches the key set. Default: a client with a 5 s timeout.
	HTTPClient *http.Client
	// RefreshInterval is how old the cached set may grow before it is
	// refreshed in the background on the next lookup. Default 5 minutes.
	RefreshInterval time.Duration
	// MinRefreshInterval is the least time between two fetches. A lookup of
	// an unknown kid fetches at once unless a fetch started less than this
	// long ago, in which case it fails with ErrUnknownKey without touching
	// the key server — so a flood of passes with made-up kids costs the key
	// server at most one request per interval. Default 10 s.
	MinRefreshInterval time.Duration
	// Now is the clock; default time.Now. Tests steer it.
	Now func() time.Time
}

// maxJWKSBytes bounds a key set response.
const maxJWKSBytes = 1 << 20

// JWKSClient keeps the Ed25519 keys published at a JWK Set URL (the gateway's
// /_waitroom/jwks.json). It fetches on first use, refreshes when a pass names
// a kid it does not hold (at most once per MinRefreshInterval) and in the
// background every RefreshInterval, and keeps serving the last good keys while
// the key server is unreachable or answers nonsense. It is safe for
// concurrent use; lookups of known keys never wait on the network.
type JWKSClient struct {
	url string
	cfg JWKSConfig

	mu         sync.RWMutex
	keys       map[string]ed25519.PublicKey
	fetched    time.Time // last successful fetch
	attempted  time.Time // start of the last fetch, successful or not
	background bool      // a background refresh is running
	lastErr    error

	fetchMu sync.Mutex // one fetch at a time
}

// NewJWKSClient returns a client for the JWK Set at url. It does not fetch
// until the first lookup; call Refresh to fetch (and learn of problems) at
// start-up.
func NewJWKSClient(url string, cfg JWKSConfig) *JWKSClient {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = 5 * time.Minute
	}
	if cfg.MinRefreshInterval <= 0 {
		cfg.MinRefreshInterval = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &JWKSClient{url: url, cfg: cfg, keys: map[string]ed25519.PublicKey{}}
}

// Key returns the public key with the given kid, fetching the set when the
// kid is unknown and the rate limit allows. An empty kid is an unknown key:
// passes verified through a key set must name their key.
func (c *JWKSClient) Key(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	now := c.cfg.Now()
	c.mu.RLock()
	key, ok := c.keys[kid]
	stale := now.Sub(c.fetched) >= c.cfg.RefreshInterval
	c.mu.RUnlock()
	if ok {
		if stale {
			c.refreshInBackground()
		}
		return key, nil
	}
	if kid == "" {
		return nil, refuse(ErrUnknownKey, "pass has no kid")
	}
	c.fetchMu.Lock()
	defer c.fetchMu.Unlock()
	// Another lookup may have fetched while this one waited.
	c.mu.RLock()
	key, ok = c.keys[kid]
	recent := !c.attempted.IsZero() && c.cfg.Now().Sub(c.attempted) < c.cfg.MinRefreshInterval
	c.mu.RUnlock()
	if ok {
		return key, nil
	}
	if recent {
		return nil, refuse(ErrUnknownKey, "kid %q (key set refreshed recently)", kid)
	}
	if err := c.fetch(ctx); err != nil {
		return nil, refuse(ErrUnknownKey, "kid %q: key set unavailable: %v", kid, err)
	}
	c.mu.RLock()
	key, ok = c.keys[kid]
	c.mu.RUnlock()
	if !ok {
		return nil, refuse(ErrUnknownKey, "kid %q", kid)
	}
	return key, nil
}

// Refresh fetches the key set now, regardless of the rate limit. On failure
// the keys already held stay in use.
func (c *JWKSClient) Refresh(ctx context.Context) error {
	c.fetchMu.Lock()
	defer c.fetchMu.Unlock()
	return c.fetch(ctx)
}

// KeyIDs returns the kids currently held, for logs and health output.
func (c *JWKSClient) KeyIDs() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	ids := make([]string, 0, len(c.keys))
	for id := range c.keys {
		ids = append(ids, id)
	}
	return ids
}

// LastError returns the error of the last fetch, or nil if it succeeded.
func (c *JWKSClient) LastError() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.lastErr
}

func (c *JWKSClient) refreshInBackground() {
	c.mu.Lock()
	if c.background || c.cfg.Now().Sub(c.attempted) < c.cfg.MinRefreshInterval {
		c.mu.Unlock()
		return
	}
	c.background = true
	c.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c.fetchMu.Lock()
		_ = c.fetch(ctx)
		c.fetchMu.Unlock()
		c.mu.Lock()
		c.background = false
		c.mu.Unlock()
	}()
}

// fetch loads the set; the caller holds fetchMu.
func (c *JWKSClient) fetch(ctx context.Context) error {
	c.mu.Lock()
	c.attempted = c.cfg.Now()
	c.mu.Unlock()
	keys, err := c.get(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastErr = err
	if err != nil {
		return err
	}
	c.keys = keys
	c.fetched = c.cfg.Now()
	return nil
}

func (c *JWKSClient) get(ctx context.Context) (map[string]ed25519.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("GET %s: status %d", c.url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", c.url, err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("GET %s: key set larger than %d bytes", c.url, maxJWKSBytes)
	}
	return parseJWKS(body)
}

// parseJWKS reads the Ed25519 signing keys of a JWK Set. Keys of other types
// or uses are skipped; a set that is not JSON, or a key that claims to be
// Ed25519 but is not 32 bytes, fails the whole set so a broken response never
// replaces good keys.
func parseJWKS(body []byte) (map[string]ed25519.PublicKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	if set.Keys == nil {
		return nil, errors.New("key set: no \"keys\" member")
	}
	keys := make(map[string]ed25519.PublicKey, len(set.Keys))
	for _, k := range set.Keys {
		if k.Kty != "OKP" || k.Crv != "Ed25519" {
			continue
		}
		if (k.Alg != "" && k.Alg != algEdDSA) || (k.Use != "" && k.Use != "sig") {
			continue
		}
		x, err := b64.DecodeString(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("key set: kid %q: x is not a 32-byte base64url value", k.Kid)
		}
		pub := ed25519.PublicKey(x)
		kid := k.Kid
		if kid == "" {
			kid = KeyID(pub)
		}
		keys[kid] = pub
	}
	return keys, nil
}
