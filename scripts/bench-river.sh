#!/usr/bin/env bash
# River, the Go job queue on PostgreSQL, working no-op jobs on the same server: the peer that
# Attune's BenchmarkPipeline is compared with (issue 11). Builds ../shared/peers/river-bench
# into bin/river-bench, runs it on a fresh database of its own (dropped after) with a pool of
# 40 connections, and prints its one-line result.
#   RIVER_BENCH_DIR  the peer's source (default: ../shared/peers/river-bench, or ../../shared/… from a worktree)
#   RIVER_JOBS       jobs (default 12800)      RIVER_INSERTERS  concurrent inserters (default 64)
#   RIVER_ARGS       more flags for river-bench (-workers, -cooldown, -batch)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dir=${RIVER_BENCH_DIR:-}
if [ -z "$dir" ]; then
  for d in "$root/../shared/peers/river-bench" "$root/../../shared/peers/river-bench"; do
    if [ -f "$d/main.go" ]; then dir=$d; break; fi
  done
fi
if [ -z "$dir" ] || [ ! -f "$dir/main.go" ]; then
  echo "bench-river: no river-bench source (set RIVER_BENCH_DIR to the directory holding its main.go)" >&2
  exit 1
fi
mkdir -p bin
(cd "$dir" && go build -o "$root/bin/river-bench" .)

url=${ATTUNE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
db="riverbench_$$"
dsn="$(printf '%s' "$url" | sed -E "s#/[^/?]+(\?|$)#/$db\1#")"
case "$dsn" in *\?*) dsn="$dsn&pool_max_conns=40" ;; *) dsn="$dsn?pool_max_conns=40" ;; esac
psql -q "$url" -c "CREATE DATABASE $db"
trap 'psql -q "$url" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
# shellcheck disable=SC2086 # RIVER_ARGS is a list of flags
set -x
bin/river-bench -dsn "$dsn" -n "${RIVER_JOBS:-12800}" -c "${RIVER_INSERTERS:-64}" ${RIVER_ARGS:-}
