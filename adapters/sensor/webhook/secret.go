package webhook

import (
	"os"
	"strings"
)

// SecretLookup returns the HMAC secret of a webhook trigger, if it has one. The secret lives
// outside the log and the pack files (both are replayed and shared): the server looks it up
// when a request arrives.
type SecretLookup func(trigger string) (secret string, ok bool)

// SecretEnvPrefix starts the name of every webhook secret variable.
const SecretEnvPrefix = "ATTUNE_WEBHOOK_SECRET_"

// SecretEnvVar names the variable that holds trigger's secret: the prefix, then the ref upper
// cased with dots and dashes as underscores (examples.my-hook → ATTUNE_WEBHOOK_SECRET_EXAMPLES_MY_HOOK).
func SecretEnvVar(trigger string) string {
	return SecretEnvPrefix + strings.NewReplacer(".", "_", "-", "_").Replace(strings.ToUpper(trigger))
}

// EnvSecrets reads secrets from the environment through lookupEnv (os.LookupEnv when nil). A
// variable set to the empty string counts as no secret: an empty HMAC key proves nothing.
func EnvSecrets(lookupEnv func(string) (string, bool)) SecretLookup {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	return func(trigger string) (string, bool) {
		v, ok := lookupEnv(SecretEnvVar(trigger))
		return v, ok && v != ""
	}
}
