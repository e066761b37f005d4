package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"

	"github.com/attune-go/attune/adapters/apiclient"
)

// clientFlags are the flags of every command that talks to a server's API.
type clientFlags struct {
	URL    string
	Token  string
	Config string // the CLI config file (cliconfig.go)
	JSON   bool
	YAML   bool
}

func (f *clientFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.URL, "url", os.Getenv("ATTUNE_URL"), "Attune server (ATTUNE_URL; default: the config file's url, else "+apiclient.DefaultURL+")")
	fs.StringVar(&f.Token, "token", os.Getenv("ATTUNE_TOKEN"), "API token (ATTUNE_TOKEN; default: the config file's token, for its server)")
	fs.StringVar(&f.Config, "config", "", "CLI config file with url and token (ATTUNE_CONFIG; default $XDG_CONFIG_HOME/attune/config.yaml)")
	fs.BoolVar(&f.JSON, "json", false, "print JSON")
	fs.BoolVar(&f.YAML, "yaml", false, "print YAML")
}

func (f *clientFlags) client() (*apiclient.Client, error) {
	if f.JSON && f.YAML {
		return nil, usageError("--json and --yaml exclude each other")
	}
	url, token, err := f.endpoint()
	if err != nil {
		return nil, err
	}
	c, err := apiclient.New(url, token)
	if err != nil {
		return nil, usageError("%v", err)
	}
	actor := os.Getenv("USER")
	return c.WithActor(cmp.Or(actor, "cli")), nil
}

// print writes v as JSON or YAML when asked, else calls table.
func (f *clientFlags) print(w io.Writer, v any, table func(io.Writer) error) error {
	switch {
	case f.JSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case f.YAML:
		// Through JSON, so YAML shows the API's field names and raw JSON values as structure.
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		var generic any
		if err := json.Unmarshal(b, &generic); err != nil {
			return err
		}
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		defer enc.Close()
		return enc.Encode(generic)
	default:
		return table(w)
	}
}

func clientCommand(use, short string, flags *clientFlags, args cobra.PositionalArgs, run func(cmd *cobra.Command, c *apiclient.Client, args []string) error) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  args,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := flags.client()
			if err != nil {
				return err
			}
			return run(cmd, c, args)
		},
	}
	flags.bind(cmd.Flags())
	return cmd
}

func fprintf(w io.Writer, format string, args ...any) { _, _ = fmt.Fprintf(w, format, args...) }
