package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/rs/zerolog"

	"github.com/waitroom/waitroom/queue"
)

// store is the gateway's Redis: two clients to the same Redis, each with a
// pool of its own, so a crowd can never starve the gateway's own work.
//
//   - control (and q) carries the gateway's own work: the admission step,
//     the board's figures, the hub's heartbeats and lookups, sessions
//     (Enter, Renew, Revoke), the news, the health probe and the admin API;
//   - crowd (and crowdQ) carries visitors' joins and status lookups, at
//     most the crowd gate's size of them at once.
type store struct {
	control, crowd redis.UniversalClient
	q, crowdQ      *queue.Queue
	owned          []redis.UniversalClient // made here, closed at close
	embed          *queue.Embedded
}

// controlPoolSize is the pool of the control-plane client.
const controlPoolSize = 32

// openStore connects as cfg says: the injected client, the embedded
// server, or the URL's kind (one Redis, a cluster, Sentinel).
func openStore(ctx context.Context, cfg Config, log zerolog.Logger) (*store, error) {
	s := &store{}
	switch {
	case cfg.Redis != nil:
		s.crowd = cfg.Redis
	case cfg.RedisURL.Embedded():
		e, err := queue.StartEmbedded()
		if err != nil {
			return nil, fmt.Errorf("embedded redis: %w", err)
		}
		s.embed = e
		log.Warn().Msg("WAITROOM_REDIS_URL is empty: using the embedded in-process server; run one instance only, the queue is lost at exit")
		opt, err := redis.ParseURL(e.URL())
		if err != nil {
			e.Close()
			return nil, err
		}
		s.crowd = s.own(redis.NewClient(opt))
	default:
		s.dial(cfg.RedisURL)
	}
	if s.control == nil {
		s.control = s.controlClient(s.crowd, log)
	}
	s.q = queue.New(s.control, queue.Config{Prefix: cfg.RedisPrefix})
	s.crowdQ = s.q.On(s.crowd) // one knowledge of the rooms' line epochs
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.control.Ping(pctx).Err(); err != nil {
		// Not fatal: the fail mode covers an outage and recovery is
		// automatic, so a gateway may start while Redis is still down.
		log.Warn().Err(err).Msg("redis does not answer yet; serving in fail mode until it does")
	}
	return s, nil
}

// dial makes the clients of a WAITROOM_REDIS_URL. Short timeouts: in an
// outage the fail mode should answer visitors quickly rather than hold them
// on a dead socket.
func (s *store) dial(u RedisURL) {
	const dialT, ioT = time.Second, 500 * time.Millisecond
	switch {
	case u.sentinel != nil:
		// Both clients ask the Sentinels for the master and follow a
		// failover by themselves.
		opt := *u.sentinel
		opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = dialT, ioT, ioT
		ctl := opt
		ctl.SentinelAddrs = append([]string(nil), opt.SentinelAddrs...)
		opt.PoolSize, opt.MinIdleConns = 64, 4
		ctl.PoolSize, ctl.MinIdleConns = controlPoolSize, 2
		s.crowd = s.own(redis.NewFailoverClient(&opt))
		s.control = s.own(redis.NewFailoverClient(&ctl))
	case u.cluster != nil:
		// Every queue script's keys share the room's hash tag.
		opt := *u.cluster
		opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = dialT, ioT, ioT
		s.crowd = s.own(redis.NewClusterClient(&opt))
	default:
		opt := *u.single
		opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = dialT, ioT, ioT
		opt.PoolSize, opt.MinIdleConns = 64, 4
		s.crowd = s.own(redis.NewClient(&opt))
	}
}

// controlClient returns a client to the same Redis as crowd (same address,
// credentials, TLS, timeouts) with a pool of its own. A client of another
// kind (a Ring, a failover client) is shared as it is.
func (s *store) controlClient(crowd redis.UniversalClient, log zerolog.Logger) redis.UniversalClient {
	// The copy would share the visitors' client's maintenance
	// notification handler (a Redis Enterprise feature), which go-redis
	// refuses to register twice, printing a plain-text line at every
	// start; the control plane's short calls do without it.
	off := &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	switch c := crowd.(type) {
	case *redis.Client:
		o := *c.Options()
		o.PoolSize, o.MinIdleConns, o.MaxIdleConns, o.MaxActiveConns = controlPoolSize, 2, 0, 0
		o.MaintNotificationsConfig = off
		return s.own(redis.NewClient(&o))
	case *redis.ClusterClient:
		o := *c.Options()
		o.PoolSize, o.MinIdleConns, o.MaxIdleConns, o.MaxActiveConns = controlPoolSize, 2, 0, 0
		o.MaintNotificationsConfig = off
		return s.own(redis.NewClusterClient(&o))
	default:
		log.Warn().Msg("redis client of an unknown kind: visitors and the admission loop share its pool")
		return crowd
	}
}

// own records a client made here, closed by close.
func (s *store) own(c redis.UniversalClient) redis.UniversalClient {
	s.owned = append(s.owned, c)
	return c
}

// crowdPool is the visitor client's connection pool (per node for a
// cluster): the crowd gate's size.
func (s *store) crowdPool() int {
	switch c := s.crowd.(type) {
	case *redis.Client:
		return c.Options().PoolSize
	case *redis.ClusterClient:
		return c.Options().PoolSize
	}
	return 64
}

func (s *store) close() {
	for _, c := range s.owned {
		_ = c.Close()
	}
	if s.embed != nil {
		s.embed.Close()
	}
}
