package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/attune-go/attune/adapters/apiclient"
	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/domain/execution"
)

// executionTailCommand is `attune execution tail ID`: the action's output as it runs (its
// stdout to stdout, its stderr to stderr), then the final status; with --events, the
// execution's events so far, then the new ones as they are appended. Either way until it
// ends, and non-zero unless it completed.
func executionTailCommand() *cobra.Command {
	var (
		flags  clientFlags
		events bool
	)
	cmd := clientCommand("tail ID", "Follow an execution's output (or, with --events, its events) live until it ends", &flags, cobra.ExactArgs(1),
		func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			ctx, id := cmd.Context(), args[0]
			if !events {
				return tailOutput(ctx, c, id, cmd.OutOrStdout(), cmd.ErrOrStderr())
			}
			// The stream opens before the history is read, so that what the history misses
			// the stream has; what both have is printed once (by stream version).
			st, err := c.OpenStream(ctx, apiclient.StreamQuery{Executions: []string{id}})
			if err != nil {
				return err
			}
			defer st.Close()
			past, err := c.History(ctx, id)
			if err != nil {
				return err
			}
			p := eventPrinter{flags: &flags, w: cmd.OutOrStdout()}
			var version int64
			// show prints e unless it was printed already, and tells when the execution ended.
			show := func(e httpapi.Envelope) (ended bool, err error) {
				if e.StreamVersion <= version {
					return false, nil
				}
				if err := p.print(e); err != nil {
					return true, err
				}
				version = e.StreamVersion
				if to, reason, ended := executionEnded(e); ended {
					return true, endedError(id, to, reason)
				}
				return false, nil
			}
			for _, e := range past {
				if ended, err := show(e); ended {
					return err
				}
			}
			for {
				e, err := st.Next()
				if interrupted(ctx, err) {
					return nil
				}
				if err != nil {
					return err
				}
				if ended, err := show(e); ended {
					return err
				}
			}
		})
	cmd.Flags().BoolVar(&events, "events", false, "follow the execution's events instead of its output")
	cmd.Example = "  attune execution tail 01JB7Q7K9W3V8M6D4N5P2R1S0T\n  attune execution tail 01JB7Q7K9W3V8M6D4N5P2R1S0T --events --json | jq .type"
	return cmd
}

// notYetFor is how long tail waits for an execution the read model does not show yet (one
// just submitted: the run's answer waits for no read model).
const notYetFor = 10 * time.Second

// tailOutput prints the execution's output as it arrives, then its final status on stderr.
func tailOutput(ctx context.Context, c *apiclient.Client, id string, stdout, stderr io.Writer) error {
	deadline := time.Now().Add(notYetFor)
	for {
		var final httpapi.OutputEnd
		err := c.FollowOutput(ctx, id, 0, func(ch httpapi.OutputChunk) error {
			w := stdout
			if ch.Stream == "stderr" {
				w = stderr
			}
			_, err := io.WriteString(w, ch.Data)
			return err
		}, func(e httpapi.OutputEnd) error {
			final = e
			return nil
		})
		switch {
		case apiclient.IsCode(err, "not_found") && time.Now().Before(deadline):
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(200 * time.Millisecond):
			}
			continue
		case interrupted(ctx, err):
			return nil
		case err != nil:
			return err
		}
		code := "-"
		if final.ExitCode != nil {
			code = fmt.Sprint(*final.ExitCode)
		}
		if _, err := fmt.Fprintf(stderr, "execution %s %s (exit code %s)\n", id, final.Status, code); err != nil {
			return err
		}
		return endedError(id, final.Status, final.Reason)
	}
}

// eventsCommand is `attune events …`: the log itself.
func eventsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "events", Aliases: []string{"event"}, Short: "Follow the event log"}
	var (
		flags clientFlags
		q     apiclient.StreamQuery
	)
	tail := clientCommand("tail", "Follow the log's events live, as they are appended", &flags, cobra.NoArgs,
		func(cmd *cobra.Command, c *apiclient.Client, _ []string) error {
			ctx := cmd.Context()
			st, err := c.OpenStream(ctx, q)
			if err != nil {
				return err
			}
			defer st.Close()
			p := eventPrinter{flags: &flags, w: cmd.OutOrStdout(), showStream: true}
			for {
				e, err := st.Next()
				if interrupted(ctx, err) {
					return nil
				}
				if err != nil {
					return err
				}
				if err := p.print(e); err != nil {
					return err
				}
			}
		})
	f := tail.Flags()
	f.StringSliceVar(&q.Types, "type", nil, "only events of these types (repeat or comma-separate)")
	f.StringSliceVar(&q.TraceTags, "trace-tag", nil, "only events with this trace tag")
	f.StringSliceVar(&q.Executions, "execution", nil, "only the events of this execution")
	f.StringSliceVar(&q.Streams, "stream", nil, "only the events of this stream")
	f.StringVar(&q.After, "after", "", "start after this position (0-0: the whole log) instead of with the next event")
	tail.Example = "  attune events tail --type ExecutionStatusChanged\n  attune events tail --trace-tag deploy-7 --json"
	cmd.AddCommand(tail)
	return cmd
}

// interrupted reports whether err only says that the user stopped the command (Ctrl-C).
func interrupted(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err())
}

// executionEnded reports whether e moved its execution to a terminal status.
func executionEnded(e httpapi.Envelope) (to execution.Status, reason string, ended bool) {
	if e.Type != (execution.ExecutionStatusChanged{}).EventType() {
		return "", "", false
	}
	var changed execution.ExecutionStatusChanged
	if json.Unmarshal(e.Data, &changed) != nil {
		return "", "", false
	}
	return changed.To, changed.Reason, changed.To.Terminal()
}

// endedError is the command's outcome once the execution ended: like `run --wait`, non-zero
// unless it completed, so scripts can follow an execution and branch on how it went.
func endedError(id string, to execution.Status, reason string) error {
	if to == execution.Completed {
		return nil
	}
	return &exitError{code: 1, err: fmt.Errorf("execution %s ended %s%s", id, to, reasonSuffix(reason))}
}

// eventPrinter writes one event per line (one JSON object per line with --json, so the
// output pipes into jq as it comes; one YAML document each with --yaml).
type eventPrinter struct {
	flags      *clientFlags
	w          io.Writer
	showStream bool
}

// maxDataShown bounds the payload in the one-line form; --json shows it whole.
const maxDataShown = 240

func (p eventPrinter) print(e httpapi.Envelope) error {
	switch {
	case p.flags.JSON:
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode event %s: %w", e.EventID, err)
		}
		_, err = fmt.Fprintf(p.w, "%s\n", b)
		return err
	case p.flags.YAML:
		if _, err := io.WriteString(p.w, "---\n"); err != nil {
			return err
		}
		return p.flags.print(p.w, e, nil)
	}
	where := fmt.Sprintf("#%d", e.StreamVersion)
	if p.showStream {
		where = e.StreamID + where
	}
	data := string(e.Data)
	if len(data) > maxDataShown {
		data = strings.ToValidUTF8(data[:maxDataShown], "") + "…"
	}
	_, err := fmt.Fprintf(p.w, "%s  %s  %s  %s\n", e.RecordedAt.Format(time.RFC3339Nano), where, e.Type, data)
	return err
}
