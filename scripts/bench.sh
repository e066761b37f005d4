#!/usr/bin/env bash
# The benchmarks, against the local PostgreSQL and RabbitMQ. Each prints its rate (events/s,
# rows/s, p50/p99 ms) next to Go's ns/op. BENCHTIME overrides the default 2s per benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
bt=${BENCHTIME:-2s}
echo "== event store vs raw pgx (adapters/pgstore)"
go test -run '^$' -bench . -benchtime "$bt" ./adapters/pgstore/
echo "== projections"
go test -run '^$' -bench . -benchtime 2x ./projections/
echo "== executions read model, 1,000,000 rows (p50/p99 ms per list page and get)"
go test -run '^$' -bench ReadExecutions -benchtime "$bt" -timeout 20m ./adapters/readmodel/
echo "== relay (log → bus)"
go test -run '^$' -bench . -benchtime "$bt" ./adapters/relay/
echo "== rule evaluation"
go test -run '^$' -bench . -benchtime "$bt" ./adapters/ruleeval/
