#!/usr/bin/env bash
# Zero-downtime swap of the waitroom gateway behind nginx (blue-green).
#
#   deploy/bluegreen.sh                        # colours as processes this script starts
#   SYSTEMD_UNIT=waitroom deploy/bluegreen.sh  # colours as systemd units waitroom@blue, waitroom@green
#
# 1. read which colour nginx sends traffic to (the port in $UPSTREAM_FILE);
# 2. start the gateway of the other colour, listening on that colour's ports:
#    $WAITROOM_BIN with $WAITROOM_ENV_FILE, or with $SYSTEMD_UNIT set,
#    "systemctl enable --now $SYSTEMD_UNIT@<colour>" (the template unit
#    deploy/systemd/waitroom@.service, whose /etc/waitroom/<colour>.env must
#    hold the same ports as BLUE and GREEN below);
# 3. wait until its /readyz answers 200 (Redis reachable), or give up and stop it;
# 4. rewrite $UPSTREAM_FILE, reload nginx and give its new workers $RELOAD_SETTLE
#    seconds to take over (the old workers finish their in-flight requests,
#    new connections go to the new gateway);
# 5. SIGTERM the old gateway ("systemctl disable --now" of its unit, which waits
#    for it to exit): it drains requests and closes WebSockets with 1001, and
#    the queue page reconnects through nginx to the new one. Places live in
#    Redis, so nobody loses theirs. With units, the new colour stays enabled
#    at boot and the old one does not.
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
SYSTEMD_UNIT=${SYSTEMD_UNIT:-}
SYSTEMCTL=${SYSTEMCTL:-systemctl}

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

if [ -n "$SYSTEMD_UNIT" ]; then
  $SYSTEMCTL enable --now "$SYSTEMD_UNIT@$new.service"
else
  (
    set -a
    # shellcheck disable=SC1090
    [ -f "$WAITROOM_ENV_FILE" ] && . "$WAITROOM_ENV_FILE"
    set +a
    export WAITROOM_LISTEN="$HOST:$public" WAITROOM_ADMIN_LISTEN="$HOST:$admin"
    exec setsid "$WAITROOM_BIN" >>"$RUN_DIR/$new.log" 2>&1
  ) &
  echo $! >"$RUN_DIR/$new.pid"
fi

for i in $(seq 1 "$READY_TRIES"); do
  if curl -fs -o /dev/null "http://$HOST:$admin/readyz"; then
    log "$new is ready"
    break
  fi
  if [ "$i" = "$READY_TRIES" ]; then
    log "$new did not become ready; stopping it, $old stays live"
    if [ -n "$SYSTEMD_UNIT" ]; then
      $SYSTEMCTL disable --now "$SYSTEMD_UNIT@$new.service" || true
    else
      kill -TERM "$(cat "$RUN_DIR/$new.pid")" 2>/dev/null || true
    fi
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

if [ -n "$SYSTEMD_UNIT" ]; then
  log "draining $old ($SYSTEMD_UNIT@$old)"
  $SYSTEMCTL disable --now "$SYSTEMD_UNIT@$old.service"
  # A host moving over from the single-instance unit: it holds blue's port.
  if [ "$old" = blue ]; then $SYSTEMCTL disable --now "$SYSTEMD_UNIT.service"; fi
elif [ -f "$RUN_DIR/$old.pid" ]; then
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
