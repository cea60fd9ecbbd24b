package queue

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

// One script per operation; the room scripts share common.lua's keys,
// arguments and helpers, prepended at build time.
var (
	//go:embed common.lua
	commonLua string
	//go:embed join.lua
	joinLua string
	//go:embed status.lua
	statusLua string
	//go:embed admit.lua
	admitLua string
	//go:embed session.lua
	sessionLua string
	//go:embed revoke.lua
	revokeLua string
	//go:embed confirm.lua
	confirmLua string
	//go:embed figures.lua
	figuresLua string
	//go:embed heartbeat.lua
	heartbeatLua string
	//go:embed update.lua
	updateLua string

	joinScript      = redis.NewScript(commonLua + joinLua)
	statusScript    = redis.NewScript(commonLua + statusLua)
	admitScript     = redis.NewScript(commonLua + admitLua)
	sessionScript   = redis.NewScript(commonLua + sessionLua)
	revokeScript    = redis.NewScript(commonLua + revokeLua)
	confirmScript   = redis.NewScript(commonLua + confirmLua)
	figuresScript   = redis.NewScript(commonLua + figuresLua)
	heartbeatScript = redis.NewScript(heartbeatLua)
	updateScript    = redis.NewScript(updateLua)
)
