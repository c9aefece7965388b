#!/usr/bin/env bash
# `make bench`: measure mqctl against a peer in the same run and write the
# medians and ratios to BENCHMARKS.md. Nothing here asserts a time: these
# machines are noisy, so we report, we do not fail.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=bin/mqctl
runs=${BENCH_RUNS:-31}
work=.bench
mkdir -p "$work"
tmp=$(mktemp -d)
trap 'kill -TERM ${sb:-0} 2>/dev/null; wait ${sb:-0} 2>/dev/null; rm -rf "$tmp"' EXIT

# median_ms CMD...: median wall time in milliseconds over $runs runs.
median_ms() {
  local times=()
  for _ in $(seq 1 "$runs"); do
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1
    t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]/1000}'
}

echo "bench: mqctl version start-up ($runs runs)" >&2
version_ms=$(median_ms "$bin" version)

echo "bench: starting a sandbox Kafka" >&2
MQCTL_CONFIG="$tmp/config.yaml" "$bin" sandbox --no-rabbitmq --no-nats --no-contexts --kafka-port 0 >"$tmp/out" 2>"$tmp/err" &
sb=$!
for _ in $(seq 1 60); do grep -q '^kafka ' "$tmp/out" && break; sleep 0.5; done
url=$(awk '/^kafka /{print $2}' "$tmp/out")
brokers=${url#kafka://}
# 50 topics of 4 partitions with a few records each, created by kcat.
for i in $(seq 1 50); do printf 'a\nb\nc\n' | kcat -P -b "$brokers" -t "bench-$i" 2>/dev/null; done

echo "bench: metadata listing, mqctl ls vs kcat -L ($runs runs each)" >&2
ls_ms=$(median_ms "$bin" ls --url "$url" -o json)
kcat_ms=$(median_ms kcat -L -b "$brokers")

ratio=$(awk -v a="$ls_ms" -v b="$kcat_ms" 'BEGIN {printf "%.2f", a/b}')
cat > BENCHMARKS.md <<MD
# Benchmarks

Written by \`make bench\` on $(date -u +%Y-%m-%d) ($(nproc) cores, $(go version | awk '{print $3}')).
Medians of $runs runs, wall time, measured in the same run. Ratios below 1 mean mqctl is faster.

| what | mqctl | peer | peer | ratio |
|---|---|---|---|---|
| start-up: \`mqctl version\` | ${version_ms} ms | — | — | — |
| list 50 topics × 4 partitions on kfake | ${ls_ms} ms (\`ls -o json\`, with message counts and groups) | ${kcat_ms} ms | \`kcat -L\` (metadata only) | ${ratio} |

\`mqctl ls\` does more than \`kcat -L\`: besides metadata it lists start and end offsets of
every partition and the committed offsets of every group, in three batched round trips.
MD
cat BENCHMARKS.md
