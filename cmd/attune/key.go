package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/attune-go/attune/adapters/apiclient"
	"github.com/attune-go/attune/adapters/httpapi"
)

func keyCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "key", Aliases: []string{"keys"}, Short: "Set, read, list and delete keys of the key-value store"}
	cmd.AddCommand(keySetCommand(), keyGetCommand(), keyListCommand(), keyDeleteCommand())
	return cmd
}

func keySetCommand() *cobra.Command {
	var (
		flags  clientFlags
		pack   string
		secret bool
		ttl    int64
	)
	cmd := clientCommand("set NAME [VALUE]", "Set a key (VALUE omitted: read from stdin, which keeps a secret out of argv)", &flags, cobra.RangeArgs(1, 2),
		func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			var text string
			if len(args) == 2 {
				text = args[1]
			} else {
				raw, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1<<20))
				if err != nil {
					return fmt.Errorf("read the value from stdin: %w", err)
				}
				text = strings.TrimSuffix(strings.TrimSuffix(string(raw), "\n"), "\r")
			}
			value, err := keyValue(text, flags.JSON)
			if err != nil {
				return err
			}
			k, err := c.SetKey(cmd.Context(), pack, args[0], httpapi.KeyWrite{Value: value, Secret: secret, TTL: ttl})
			if err != nil {
				return err
			}
			return flags.print(cmd.OutOrStdout(), k, func(w io.Writer) error {
				fprintf(w, "key %s set%s\n", keyName(k), expiry(k))
				return nil
			})
		})
	cmd.Flags().StringVar(&pack, "pack", "", "the pack whose key it is (read as kv.pack.NAME by its rules and workflows); default: a system key")
	cmd.Flags().BoolVar(&secret, "secret", false, "seal the value (admin only); it shows as ******** unless an admin asks get --decrypt")
	cmd.Flags().Int64Var(&ttl, "ttl", 0, "seconds until the value expires (0: never)")
	cmd.Flags().Lookup("json").Usage = "VALUE is JSON (an error if it does not parse), and print the key as JSON"
	return cmd
}

// keyValue types a VALUE as the user meant it: with asJSON it must be JSON; else an object,
// a list, true, false, null, a "quoted string" or a number written the way JSON writes it
// back (42, -1.5) is JSON, and anything else is the string typed — so 1.10, 007 and 1e3 stay
// the text the user typed, not a number that would print differently.
func keyValue(text string, asJSON bool) (json.RawMessage, error) {
	trimmed := strings.TrimSpace(text)
	if asJSON {
		if !json.Valid([]byte(trimmed)) {
			return nil, usageError("--json: %q is not JSON", text)
		}
		return json.RawMessage(trimmed), nil
	}
	if json.Valid([]byte(trimmed)) && trimmed == text {
		switch trimmed[0] {
		case '{', '[', '"', 't', 'f', 'n':
			return json.RawMessage(trimmed), nil
		default:
			if canonicalNumber(trimmed) {
				return json.RawMessage(trimmed), nil
			}
		}
	}
	b, err := json.Marshal(text)
	return b, err
}

// canonicalNumber reports whether s is a number that reads back as the same text: -12, 0.5,
// 3.25 — not 1.10, 007, 1e3 or 1.0.
func canonicalNumber(s string) bool {
	f, ok := new(big.Float).SetPrec(200).SetString(s)
	if !ok {
		return false
	}
	return f.Text('f', -1) == s
}

func keyName(k httpapi.Key) string {
	if k.Pack != "" {
		return "kv.pack(" + k.Pack + ")." + k.Name
	}
	return "kv.system." + k.Name
}

func expiry(k httpapi.Key) string {
	if k.ExpiresAt == nil {
		return ""
	}
	return " (expires " + k.ExpiresAt.Format(time.RFC3339) + ")"
}

// plainValue shows a value: a string bare, anything else as JSON.
func plainValue(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	var b bytes.Buffer
	if json.Compact(&b, v) == nil {
		return b.String()
	}
	return string(v)
}

func keyGetCommand() *cobra.Command {
	var (
		flags   clientFlags
		pack    string
		decrypt bool
	)
	cmd := clientCommand("get NAME", "Print a key's value (a secret one as ******** unless --decrypt)", &flags, cobra.ExactArgs(1),
		func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			k, err := c.Key(cmd.Context(), pack, args[0], decrypt)
			if err != nil {
				return err
			}
			return flags.print(cmd.OutOrStdout(), k, func(w io.Writer) error {
				fprintf(w, "%s\n", plainValue(k.Value))
				return nil
			})
		})
	cmd.Flags().StringVar(&pack, "pack", "", "the pack whose key it is; default: a system key")
	cmd.Flags().BoolVar(&decrypt, "decrypt", false, "show a secret value (admin only)")
	return cmd
}

func keyListCommand() *cobra.Command {
	var flags clientFlags
	var lf *listFlags
	cmd := clientCommand("list", "List keys (secret values as ********)", &flags, cobra.NoArgs,
		func(cmd *cobra.Command, c *apiclient.Client, _ []string) error {
			page, err := c.Keys(cmd.Context(), lf.query())
			if err != nil {
				return err
			}
			return flags.print(cmd.OutOrStdout(), page, func(w io.Writer) error {
				var rows [][]string
				for _, k := range page.Items {
					exp := "-"
					if k.ExpiresAt != nil {
						exp = k.ExpiresAt.Format(time.RFC3339)
					}
					secret := "-"
					if k.Secret {
						secret = "secret"
					}
					pack := k.Pack
					if pack == "" {
						pack = "-"
					}
					rows = append(rows, []string{string(k.Scope), pack, k.Name, secret, exp, plainValue(k.Value)})
				}
				return table(w, "SCOPE\tPACK\tNAME\tSECRET\tEXPIRES\tVALUE", rows, page.NextCursor)
			})
		})
	lf = bindList(cmd, map[string]string{"pack": "pack", "scope": "scope", "prefix": "prefix"},
		map[string]string{"pack": "only the keys of this pack", "scope": "only system or pack keys", "prefix": "only names starting with this"})
	return cmd
}

func keyDeleteCommand() *cobra.Command {
	var (
		flags clientFlags
		pack  string
	)
	cmd := clientCommand("delete NAME", "Delete a key", &flags, cobra.ExactArgs(1),
		func(cmd *cobra.Command, c *apiclient.Client, args []string) error {
			if err := c.DeleteKey(cmd.Context(), pack, args[0]); err != nil {
				return err
			}
			fprintf(cmd.OutOrStdout(), "key %s deleted\n", keyName(httpapi.Key{Pack: pack, Name: args[0]}))
			return nil
		})
	cmd.Flags().StringVar(&pack, "pack", "", "the pack whose key it is; default: a system key")
	return cmd
}
