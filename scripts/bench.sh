#!/usr/bin/env bash
# Every benchmark, against the local PostgreSQL and RabbitMQ, written up in bin/bench-report.md
# with the command that gave each figure (`go tool task bench`). Run it on a quiet machine:
# the figures are CPU-bound, and anything else running shows up in them.
#   ROUNDS=3          interleaved rounds of the pipeline (in-process core.noop) and River
#   PIPELINE_N=2000   executions per BenchmarkPipeline run (-benchtime Nx)
#   LOG_EVENTS=1000000  the long log of BenchmarkPipelineLog and the steady-load run
#   BENCHTIME=2s      the micro-benchmarks' -benchtime
#   QUICK=1           a small-scale pass that checks the harness end to end in a few minutes
#                     (never quote its figures)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin
report=bin/bench-report.md
bt=${BENCHTIME:-2s}
rounds=${ROUNDS:-3}
n=${PIPELINE_N:-2000}
log_events=${LOG_EVENTS:-1000000}
load_env=(ATTUNE_LOADBENCH=full "ATTUNE_LOADBENCH_LOG_EVENTS=0,$log_events")
river_jobs=${RIVER_JOBS:-12800}
if [ "${QUICK:-}" = 1 ]; then
  bt=200ms rounds=1 n=100 log_events=${LOG_EVENTS:-20000} river_jobs=2000
  load_env=("ATTUNE_LOADBENCH_RATES=20,40" ATTUNE_LOADBENCH_DURATION=3s "ATTUNE_LOADBENCH_LOG_EVENTS=0,$log_events" ATTUNE_LOADBENCH_AUDIT=0)
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run TITLE CMD…: runs the command (its output also on the terminal) and appends the command
# and the lines with figures to the report.
run() {
  local title=$1
  shift
  echo "== $title"
  {
    echo
    echo "### $title"
    echo
    echo '```sh'
    echo "$*"
    echo '```'
    echo
  } >>"$report"
  local status=0
  env "$@" 2>&1 | tee "$tmp/out" || status=$?
  {
    echo '```'
    grep -E '^(Benchmark|river:|ok |FAIL|--- FAIL|panic)' "$tmp/out" || echo "(no figures: see the terminal)"
    echo '```'
  } >>"$report"
  if [ $status -ne 0 ]; then
    echo "**This command failed (exit $status).**" >>"$report"
    failed=1
  fi
}
failed=0

# rate SUBBENCH: executions/s of a sub-benchmark in the last output.
rate() { awk -v name="$1" '$1 ~ name { for (i = 2; i < NF; i++) if ($(i+1) == "executions/s") print $i }' "$tmp/out" | tail -1; }

{
  echo "# Attune benchmark report"
  echo
  echo "- when: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (with local changes)')"
  echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load average at start $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- PostgreSQL: $(psql -XAtq "${ATTUNE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}" -c 'SHOW server_version' 2>/dev/null || echo '?'), fsync $(psql -XAtq "${ATTUNE_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}" -c 'SHOW fsync' 2>/dev/null || echo '?')"
  echo
  echo "Per execution: cpu_ms (this process: server and benchmark clients), pg_cpu_ms (the server's"
  echo "PostgreSQL backends, from /proc), stmts, tx and write_tx (from a pgx tracer on the server's"
  echo "sessions). Latency is requested → completed from the executions' own timestamps."
} >"$report"

printf '\n## The pipeline and River, interleaved (rounds: %s)\n' "$rounds" >>"$report"
for r in $(seq 1 "$rounds"); do
  run "Round $r: BenchmarkPipeline, in process, core.noop" \
    go test -count=1 -run '^$' -bench 'Pipeline/inprocess/core.noop$' -benchtime "${n}x" -timeout 30m ./cmd/attune/app/
  run "Round $r: River, $river_jobs no-op jobs" RIVER_JOBS="$river_jobs" bash scripts/bench-river.sh
done

echo >>"$report"
echo "## The pipeline, every transport and action" >>"$report"
run "BenchmarkPipeline" go test -count=1 -run '^$' -bench '^BenchmarkPipeline$' -benchtime "${n}x" -timeout 60m ./cmd/attune/app/

echo >>"$report"
echo "## A long log" >>"$report"
run "BenchmarkPipelineLog: empty log vs $log_events events (the template is built once, then cloned)" \
  ATTUNE_BENCH_LOG_EVENTS="$log_events" go test -count=1 -run '^$' -bench 'PipelineLog' -benchtime "${n}x" -timeout 90m ./cmd/attune/app/
empty=$(rate 'events=0/')
long=$(rate "events=$log_events/")
if [ -n "$empty" ] && [ -n "$long" ]; then
  awk -v e="$empty" -v l="$long" -v n="$log_events" 'BEGIN { printf "\nWith %d events in the log: %.1f executions/s against %.1f on an empty log = **%.0f%%** (goal: within 10%%).\n", n, l, e, 100 * l / e }' >>"$report"
fi

echo >>"$report"
run "Steady load through attune serve" \
  "${load_env[@]}" ATTUNE_BENCH_REPORT_DIR="$PWD/bin" go test -count=1 -v -run TestLoad -timeout 120m ./cmd/attune/loadbench/
if [ -f bin/loadbench.md ]; then
  { echo; sed -e 's/^### /#### /' -e 's/^## /### /' bin/loadbench.md; } >>"$report"
fi

echo >>"$report"
echo "## Micro-benchmarks" >>"$report"
run "Event store vs raw pgx (adapters/pgstore)" go test -count=1 -run '^$' -bench . -benchtime "$bt" ./adapters/pgstore/
run "Projections" go test -count=1 -run '^$' -bench . -benchtime 2x ./projections/
if [ "${QUICK:-}" != 1 ]; then
  run "Executions read model, 1,000,000 rows (p50/p99 ms per list page and get)" \
    go test -count=1 -run '^$' -bench ReadExecutions -benchtime "$bt" -timeout 20m ./adapters/readmodel/
fi
run "Relay (log → bus)" go test -count=1 -run '^$' -bench . -benchtime "$bt" ./adapters/relay/
run "Rule evaluation" go test -count=1 -run '^$' -bench . -benchtime "$bt" ./adapters/ruleeval/

echo "report: $report"
exit $failed
