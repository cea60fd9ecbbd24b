#!/usr/bin/env bash
# Zero-downtime swap of the waitroom gateway behind nginx (blue-green).
#
#   deploy/bluegreen.sh            # start the idle colour, switch nginx to it, drain the old one
#
# 1. read which colour nginx sends traffic to (the port in $UPSTREAM_FILE);
# 2. start the gateway of the other colour ($WAITROOM_BIN with $WAITROOM_ENV_FILE,
#    listening on that colour's ports);
# 3. wait until its /readyz answers 200 (Redis reachable), or give up and stop it;
# 4. rewrite $UPSTREAM_FILE, reload nginx and give its new workers $RELOAD_SETTLE
#    seconds to take over (the old workers finish their in-flight requests,
#    new connections go to the new gateway);
# 5. SIGTERM the old gateway: it drains requests and closes WebSockets with 1001,
#    and the queue page reconnects through nginx to the new one. Places live in
#    Redis, so nobody loses theirs.
#
# Both gateways must share WAITROOM_REDIS_URL, WAITROOM_COOKIE_SECRET and the pass
# key, so visitor cookies and passes stay valid across the swap.
set -euo pipefail

UPSTREAM_FILE=${UPSTREAM_FILE:-/etc/nginx/waitroom-upstream.conf}
NGINX_RELOAD=${NGINX_RELOAD:-nginx -s reload}
WAITROOM_BIN=${WAITROOM_BIN:-/usr/local/bin/waitroom}
WAITROOM_ENV_FILE=${WAITROOM_ENV_FILE:-/etc/waitroom/waitroom.env}
RUN_DIR=${RUN_DIR:-/run/waitroom}
HOST=${HOST:-127.0.0.1}
BLUE=${BLUE:-8080:9090}     # public:admin
GREEN=${GREEN:-8082:9092}
READY_TRIES=${READY_TRIES:-30}
DRAIN_SECONDS=${DRAIN_SECONDS:-30}
# "nginx -s reload" only signals the master: its new workers take over a
# moment later, and until then the old ones still pass new requests to the
# old gateway. Stopping the old gateway before that answers them with 502.
RELOAD_SETTLE=${RELOAD_SETTLE:-2}

log() { printf '> %s\n' "$*"; }

current_port=$(grep -Eo ':[0-9]+' "$UPSTREAM_FILE" | head -1 | tr -d :)
if [ "$current_port" = "${BLUE%%:*}" ]; then
  old=blue new=green ports=$GREEN
else
  old=green new=blue ports=$BLUE
fi
public=${ports%%:*} admin=${ports##*:}
mkdir -p "$RUN_DIR"
log "live: $old (port $current_port); starting $new on $HOST:$public (admin $admin)"

(
  set -a
  # shellcheck disable=SC1090
  [ -f "$WAITROOM_ENV_FILE" ] && . "$WAITROOM_ENV_FILE"
  set +a
  export WAITROOM_LISTEN="$HOST:$public" WAITROOM_ADMIN_LISTEN="$HOST:$admin"
  exec setsid "$WAITROOM_BIN" >>"$RUN_DIR/$new.log" 2>&1
) &
echo $! >"$RUN_DIR/$new.pid"

for i in $(seq 1 "$READY_TRIES"); do
  if curl -fs -o /dev/null "http://$HOST:$admin/readyz"; then
    log "$new is ready"
    break
  fi
  if [ "$i" = "$READY_TRIES" ]; then
    log "$new did not become ready; stopping it, $old stays live"
    kill -TERM "$(cat "$RUN_DIR/$new.pid")" 2>/dev/null || true
    exit 1
  fi
  sleep 1
done

printf '# The live gateway (%s). Written by deploy/bluegreen.sh.\nserver %s:%s max_fails=0;\n' \
  "$new" "$HOST" "$public" >"$UPSTREAM_FILE.tmp"
mv "$UPSTREAM_FILE.tmp" "$UPSTREAM_FILE"
$NGINX_RELOAD
sleep "$RELOAD_SETTLE"
log "nginx now sends traffic to $new"

if [ -f "$RUN_DIR/$old.pid" ]; then
  pid=$(cat "$RUN_DIR/$old.pid")
  if kill -TERM "$pid" 2>/dev/null; then
    log "draining $old (pid $pid)"
    for _ in $(seq 1 "$DRAIN_SECONDS"); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 1
    done
    kill -0 "$pid" 2>/dev/null && { log "$old still running after ${DRAIN_SECONDS}s; killing"; kill -KILL "$pid"; }
  fi
  rm -f "$RUN_DIR/$old.pid"
fi
log "done: $new is live"
