#!/usr/bin/env bash
# `make demo`: start `mqctl sandbox --demo`, then show what is in it.
# On a terminal it ends in `mqctl top` across the sandbox brokers, until q
# or Ctrl-C, which stops the sandbox; without one (CI, a pipe) it prints
# `mqctl ls` and `mqctl dlq ls` for each sandbox context and exits.
#
# However it ends (done, Ctrl-C, SIGTERM, the terminal closing, the
# sandbox failing), the sandbox is stopped and waited for, so its brokers
# and their temporary directories are gone when this script is.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${MQCTL_BIN:-bin/mqctl}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mqctl-demo-XXXXXX")
sandbox_pid='' view_pid=''

# cleanup stops the view, then asks the sandbox to stop and waits until it
# has. A signal meanwhile (Ctrl-C again) is passed on instead of ending
# this script (see on_signal): the sandbox then kills RabbitMQ rather than
# waiting for its graceful stop, and still removes its files.
cleanup() {
  set +e
  [ -z "$view_pid" ] || { kill -TERM "$view_pid" 2>/dev/null; wait "$view_pid" 2>/dev/null; }
  if [ -n "$sandbox_pid" ]; then
    kill -TERM "$sandbox_pid" 2>/dev/null && echo "demo: stopping the sandbox ..." >&2
    while kill -0 "$sandbox_pid" 2>/dev/null; do wait "$sandbox_pid" 2>/dev/null; done
  fi
  rm -rf "$tmp"
}
# on_signal ends the script with code, which runs cleanup; during cleanup
# it passes the signal on to the sandbox instead. An exit from a trap
# while the EXIT trap runs would end bash at once, the sandbox left
# running: two hang-ups (the terminal's and the login shell's) reaching a
# loaded machine did that, so the check is on the call stack, not on a
# variable that cleanup would have to set first.
on_signal() {
  if [[ " ${FUNCNAME[*]} " == *" cleanup "* ]]; then
    [ -z "$sandbox_pid" ] || kill -TERM "$sandbox_pid" 2>/dev/null
    return 0
  fi
  exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM
trap 'on_signal 129' HUP

args=(sandbox --demo)
command -v rabbitmq-server >/dev/null 2>&1 || [ -x /usr/sbin/rabbitmq-server ] || args+=(--no-rabbitmq)
# MQCTL_DEMO_PORTS=free starts the brokers on free ports, for when 9092,
# 4222, 5672 or 15672 is taken (or demos run side by side, as the tests do);
# the sandbox contexts point wherever the brokers are.
[ "${MQCTL_DEMO_PORTS:-}" != free ] || args+=(--kafka-port 0 --nats-port 0 --amqp-port 0 --amqp-api-port 0)

# The sandbox runs in a session of its own, out of reach of the terminal's
# Ctrl-C and hang-up: this script alone stops it, with one signal, and
# waits for it. (A second signal would make it kill RabbitMQ.)
detach=()
command -v setsid >/dev/null 2>&1 && detach=(setsid)
: >"$tmp/out"
: >"$tmp/err" # before the start: the child opens them only once it runs, after the loop below may read them
"${detach[@]}" "$bin" "${args[@]}" >"$tmp/out" 2>"$tmp/err" </dev/null &
sandbox_pid=$!

# While it starts, show the sandbox's own lines: which broker it waits for
# and for how long, its warnings and errors (the RabbitMQ node's console
# output stays in the file).
shown=0
relay() {
  local n
  n=$(wc -l <"$tmp/err")
  [ "$n" -gt "$shown" ] || return 0
  sed -n "$((shown + 1)),${n}p" "$tmp/err" | grep -E '^(sandbox|mqctl):' >&2 || true
  shown=$n
}
until grep -q 'sandbox: ready' "$tmp/err"; do
  relay
  if ! kill -0 "$sandbox_pid" 2>/dev/null; then
    relay
    code=0
    wait "$sandbox_pid" || code=$?
    sandbox_pid=''
    echo "demo: the sandbox exited with status $code before it was ready" >&2
    exit 1
  fi
  sleep 0.2
done
relay

contexts=$(awk '{print "sandbox-" $1}' "$tmp/out")
# RabbitMQ's management API publishes queue counts a few seconds after start.
if grep -q '^rabbitmq ' "$tmp/out"; then
  start=$SECONDS said=-1
  while [ $((SECONDS - start)) -lt 30 ]; do
    rows=$("$bin" -c sandbox-rabbitmq ls -o jsonl 2>/dev/null || true)
    [ -n "$rows" ] && ! grep -qv '"ready"' <<<"$rows" && break
    if [ $((SECONDS - start)) -ge $((said + 2)) ]; then
      said=$((SECONDS - start))
      echo "demo: waiting for RabbitMQ's management API to count the demo queues: ${said}s" >&2
    fi
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

if [ -t 1 ] && [ -t 0 ]; then
  # The live dashboard of every sandbox broker: overview, destinations,
  # lag with its status, dead letters; q quits it and ends the demo.
  clear || true
  show
  echo "Sandbox brokers: $(tr '\n' ' ' <"$tmp/out")"
  echo "Next: mqctl top on all three brokers; q (or Ctrl-C) quits it and stops the sandbox."
  # Long waits run in the background so that a signal's trap runs at
  # once (bash runs traps only between commands); `<&0` keeps the
  # terminal as top's input.
  sleep 5 &
  view_pid=$!
  wait "$view_pid"
  "$bin" top --interval 2s -c "$(echo $contexts | tr ' ' ',')" <&0 &
  view_pid=$!
  # top's status is the demo's: 0 after q, 130 after Ctrl-C.
  code=0
  wait "$view_pid" || code=$?
  view_pid=''
  exit "$code"
else
  cat "$tmp/out"
  echo
  show
fi
