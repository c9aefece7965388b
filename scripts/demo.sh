#!/usr/bin/env bash
# `make demo`: start `mqctl sandbox --demo`, then show what is in it.
# On a terminal the view refreshes until Ctrl-C, which stops the sandbox;
# without one it prints `mqctl ls` and `mqctl dlq ls` for each sandbox
# context and exits.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=bin/mqctl

tmp=$(mktemp -d)
args=(sandbox --demo)
# Free ports when the standard ones are taken (a system broker running).
for spec in kafka:9092 nats:4222 amqp:5672 amqp-api:15672; do
  name=${spec%%:*} port=${spec##*:}
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then args+=("--$name-port" 0); fi
done
command -v rabbitmq-server >/dev/null 2>&1 || [ -x /usr/sbin/rabbitmq-server ] || args+=(--no-rabbitmq)

"$bin" "${args[@]}" >"$tmp/out" 2>"$tmp/err" &
pid=$!
cleanup() { kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 0' INT TERM

for _ in $(seq 1 240); do
  grep -q 'sandbox: ready' "$tmp/err" && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/err" >&2; exit 1; }
  sleep 0.5
done
grep -q 'sandbox: ready' "$tmp/err" || { echo "demo: sandbox not ready after 120s" >&2; cat "$tmp/err" >&2; exit 1; }

contexts=$(awk '{print "sandbox-" $1}' "$tmp/out")
# RabbitMQ's management API publishes queue counts a few seconds after start.
if grep -q '^rabbitmq ' "$tmp/out"; then
  for _ in $(seq 1 30); do
    rows=$("$bin" -c sandbox-rabbitmq ls -o jsonl 2>/dev/null || true)
    [ -n "$rows" ] && ! grep -qv '"ready"' <<<"$rows" && break
    sleep 1
  done
fi
show() {
  for c in $contexts; do
    echo "== mqctl -c $c ls"
    "$bin" -c "$c" ls || true
    echo
    echo "== mqctl -c $c dlq ls"
    "$bin" -c "$c" dlq ls || true
    echo
  done
}

if [ -t 1 ]; then
  # The live view: lag and depth of every sandbox broker side by side,
  # judged over time (OK, WARN, STALL, STOP), refreshed in place.
  clear
  show
  echo "Sandbox brokers: $(tr '\n' ' ' <"$tmp/out")"
  echo "Next: the live lag view of all three brokers; Ctrl-C stops it and the sandbox."
  sleep 5
  "$bin" lag --watch --interval 2s -c "$(echo $contexts | tr ' ' ',')" || true
else
  cat "$tmp/out"
  echo
  show
fi
