package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/attune-go/attune/adapters/packloader"
	"github.com/attune-go/attune/domain/pack"
)

// packCheck is one directory's verdict from `attune pack check`.
type packCheck struct {
	Dir       string   `json:"dir"`
	Ref       string   `json:"ref,omitempty"`
	Dialect   string   `json:"dialect,omitempty"`
	OK        bool     `json:"ok"`
	Actions   int      `json:"actions"`
	Workflows int      `json:"workflows"`
	Triggers  int      `json:"triggers"`
	Sensors   int      `json:"sensors"`
	Rules     int      `json:"rules"`
	Policies  int      `json:"policies"`
	Problems  []string `json:"problems,omitempty"`
	// Warnings name what the loader read and did not take (a StackStorm pack's aliases/).
	Warnings []string `json:"warnings,omitempty"`
}

// packCheckCommand validates pack directories on this machine without a server: the loader
// the server runs, with the packs of the same invocation resolving each other's references.
// It is how a StackStorm user finds out, before moving, which of their packs load and why the
// others do not.
func packCheckCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check DIR...",
		Short: "Validate pack directories locally (no server): every problem with file:line, and a summary",
		Long: "check runs the same loader as `pack load` on each directory, without a server. Packs named\n" +
			"together may refer to each other's actions and triggers; references to packs not named fail\n" +
			"as they would on a server that does not have them. Exit status 1 when any pack fails.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			results := checkPacks(args)
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(results); err != nil {
					return err
				}
			} else {
				printPackChecks(out, results)
			}
			if failed := countFunc(results, func(r packCheck) bool { return !r.OK }); failed > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d of %d packs do not load", failed, len(results))}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the verdicts as JSON")
	return cmd
}

// checkPacks loads every directory. A pack whose references resolve only once another pack
// of the list has loaded is retried until a round loads nothing new, so the order of the
// arguments does not matter.
func checkPacks(dirs []string) []packCheck {
	results := make([]packCheck, len(dirs))
	loaded := map[string]pack.PackRegistered{}
	resolver := packloader.ResolverFunc(func(ref string) (*pack.PackRegistered, bool) {
		p, ok := loaded[ref]
		return &p, ok
	})
	pending := make([]int, len(dirs))
	for i := range dirs {
		pending[i] = i
	}
	for progress := true; progress && len(pending) > 0; {
		progress = false
		var still []int
		for _, i := range pending {
			p, err := packloader.LoadDir(dirs[i], resolver)
			r := packCheck{Dir: dirs[i]}
			if err != nil {
				r.Problems = problemLines(err)
				results[i] = r
				still = append(still, i)
				continue
			}
			results[i] = summarise(dirs[i], p)
			loaded[p.Ref] = p
			progress = true
		}
		pending = still
	}
	return results
}

func summarise(dir string, p pack.PackRegistered) packCheck {
	r := packCheck{Dir: dir, Ref: p.Ref, Dialect: p.Dialect, Warnings: p.Warnings, OK: true, Triggers: len(p.Triggers),
		Sensors: len(p.Sensors), Rules: len(p.Rules), Policies: len(p.Policies)}
	for _, a := range p.Actions {
		if len(a.Workflow) > 0 {
			r.Workflows++
		} else {
			r.Actions++
		}
	}
	return r
}

// problemLines splits the loader's joined error into one line per problem.
func problemLines(err error) []string {
	var lines []string
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		for _, e := range joined.Unwrap() {
			lines = append(lines, problemLines(e)...)
		}
		return lines
	}
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

func printPackChecks(w io.Writer, results []packCheck) {
	var ok, actions, workflows, rules int
	for _, r := range results {
		name := r.Ref
		if name == "" {
			name = filepath.Base(r.Dir)
		}
		if r.OK {
			ok++
			actions += r.Actions
			workflows += r.Workflows
			rules += r.Rules
			dialect := ""
			if r.Dialect != "" {
				dialect = " (" + r.Dialect + ")"
			}
			fprintf(w, "ok    %s%s: %d actions, %d workflows, %d triggers, %d sensors, %d rules, %d policies\n",
				name, dialect, r.Actions, r.Workflows, r.Triggers, r.Sensors, r.Rules, r.Policies)
			for _, warning := range r.Warnings {
				fprintf(w, "      warning: %s\n", warning)
			}
			continue
		}
		fprintf(w, "FAIL  %s: %d problems\n", name, len(r.Problems))
		for _, p := range r.Problems {
			fprintf(w, "      %s\n", p)
		}
	}
	fprintf(w, "%d of %d packs load (%d actions, %d workflows, %d rules)\n", ok, len(results), actions, workflows, rules)
}

func countFunc[T any](xs []T, f func(T) bool) int {
	n := 0
	for _, x := range xs {
		if f(x) {
			n++
		}
	}
	return n
}
