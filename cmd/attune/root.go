package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/cobra"
)

// exitError carries a specific exit code (e.g. a failed verification) out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// run is the whole program; main only adds the process around it, so tests run it in process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := configFromEnv()
	root := &cobra.Command{
		Use:           "attune",
		Short:         "Attune: event-sourced automation and workflows",
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		migrateCommand(&cfg),
		serveCommand(&cfg),
		historyCommand(&cfg),
		auditCommand(&cfg),
		replayCommand(&cfg),
		projectionsCommand(&cfg),
		withWorkerList(workerCommand(&cfg)),
		runCommand(),
		executionCommand(),
		withTriggerEventCommands(eventsCommand()),
		packCommand(),
		ruleCommand(),
		policyCommand(),
		actionCommand(),
		traceCommand(),
		tokenCommand(&cfg),
		inquiryCommand(),
		keyCommand(),
	)
	return root.ExecuteContext(ctx)
}

func newLogger(cfg config, w io.Writer) *slog.Logger {
	level, _ := parseLevel(cfg.LogLevel) // validated before
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}
