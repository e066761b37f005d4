// Command attune is the one binary: server roles (serve) and the commands operators and
// auditors run (migrate, history, audit verify, projections rebuild).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "attune: %v\n", err)
		os.Exit(exitCode(err))
	}
}
