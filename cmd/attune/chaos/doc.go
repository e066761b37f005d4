// Package chaos is Attune's fault suite (issue 8): it builds the real attune binary, runs
// `attune serve` and `attune worker` as child processes, kills them, the database and the
// broker in the middle of work, and counts from an action's own side effects what was
// acknowledged, what ran, what never ran, what ran twice and what got stuck, then runs
// `attune audit verify`.
//
// The package has tests only. `go test ./cmd/attune/chaos` (and so the normal test run) runs
// the scenarios marked inNormalRun, scaled down. `ATTUNE_CHAOS=full` runs every scenario at
// the numbers (`go tool task chaos`), `ATTUNE_CHAOS=all` every scenario scaled down;
// `-run 'TestChaos/<name>'` picks scenarios among those. The table is logged and written to
// chaos-report.md in ATTUNE_CHAOS_REPORT_DIR (default: the test's temporary directory).
//
// Counting: acknowledged is what the API answered 2xx with an execution id (a workflow's
// items once the workflow was); ran counts distinct tokens in the marks file the action
// appends to; never ran is an acknowledged token with no mark whose execution did not end
// for a true reason (failed, timed out, cancelled with a reason, or abandoned after it
// started — abandoned without ever starting is not one); ran twice is a token marked more
// than once; stuck is an execution not terminal when the settle deadline passed; verify is
// `attune audit verify` on the schema. A scenario fails on any never ran, ran twice, stuck,
// failed verify or unacknowledged request.
package chaos
