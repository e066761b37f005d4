// Package loadbench is the steady-load benchmark (issue 11): it builds the real attune
// binary, runs `attune serve` on a database of its own (a clone of a benchlog template:
// empty, or with a long log already in it), offers a constant rate of POST
// /api/v1/executions (core.noop) for a while at each of several rates, and reports per rate
// the requested → completed latency (p50, p99, from the executions' own timestamps in the
// read model), the completed rate, the CPU per execution of serve and of its PostgreSQL
// backends, and the highest rate the server sustains.
//
// A rate is sustained when every request was accepted, every execution completed before
// the drain deadline, the completed rate is at least 95% of the offered rate, and p99 is
// under 1 s. The completed rate counts the executions that finished in the last three
// quarters of the offering window, divided by that time: in a steady state it equals the
// offered rate whatever the latency, and under overload it is what the server manages.
// Stepping up stops at the first rate not sustained (an overloaded step only drains longer).
// Before the first rate, a second at 20/s warms the server up, unmeasured.
//
// The package has tests only. `go test ./cmd/attune/loadbench` (and so the normal test run)
// runs the smoke scale: 20/s for 3 s on a 3,000-event log, then `attune audit verify` on it.
// The full scale (`go tool task bench`):
//
//	ATTUNE_LOADBENCH=full go test -count=1 -v -timeout 90m -run TestLoad ./cmd/attune/loadbench/
//
// runs 50, 100, 200, 400 and 800 requests/s for 20 s each, on an empty log and on one of
// 1,000,000 events. ATTUNE_LOADBENCH_RATES (e.g. "50,100"), ATTUNE_LOADBENCH_DURATION
// ("20s"), ATTUNE_LOADBENCH_LOG_EVENTS ("0,1000000") and ATTUNE_LOADBENCH_TRANSPORT
// ("inprocess" or "rabbitmq") override the scale. The table is logged and written to
// loadbench.md in ATTUNE_BENCH_REPORT_DIR (default: the test's temporary directory).
package loadbench
