package pack

import (
	"fmt"
	"slices"
	"strings"
)

// DialectStackStorm marks a pack written in StackStorm's format (its pack.yaml has a name
// key). Attune's own dialect is the empty string.
const DialectStackStorm = "stackstorm"

// StackStorm's runner names, as StackStorm spells them. An action of the StackStorm dialect
// records its runner under these names, so what ran is what the pack author wrote.
const (
	RunnerLocalShellCmd    RunnerType = "local-shell-cmd"
	RunnerLocalShellScript RunnerType = "local-shell-script"
	RunnerPythonScript     RunnerType = "python-script"
	RunnerHTTPRequest      RunnerType = "http-request"
	RunnerNoop             RunnerType = "noop"
	RunnerInquirer         RunnerType = "inquirer"
	RunnerOrquesta         RunnerType = "orquesta"
	RunnerActionChain      RunnerType = "action-chain"
)

// StackStormRunnerTypes lists the StackStorm runners Attune runs.
var StackStormRunnerTypes = []RunnerType{
	RunnerLocalShellCmd, RunnerLocalShellScript, RunnerPythonScript, RunnerHTTPRequest,
	RunnerNoop, RunnerInquirer, RunnerOrquesta, RunnerActionChain,
}

// stackStormAliases are the older names StackStorm still accepts for its runners.
var stackStormAliases = map[string]RunnerType{
	"run-local":        RunnerLocalShellCmd,
	"run-local-script": RunnerLocalShellScript,
	"run-python":       RunnerPythonScript,
	"http-runner":      RunnerHTTPRequest,
}

// refusedRunners are StackStorm runners Attune does not run, with the reason a pack author
// reads at load.
var refusedRunners = map[string]string{
	"remote-shell-cmd":    "it runs commands over SSH on the hosts its `hosts` parameter names, and Attune has no SSH runner: run the command from a local-shell-cmd action that calls ssh, or on a worker on that host",
	"remote-shell-script": "it copies a script over SSH to the hosts its `hosts` parameter names, and Attune has no SSH runner: use a local-shell-script action on a worker on that host",
	"run-remote":          "it (remote-shell-cmd) runs commands over SSH, and Attune has no SSH runner",
	"run-remote-script":   "it (remote-shell-script) runs scripts over SSH, and Attune has no SSH runner",
	"winrm-cmd":           "it runs commands on Windows hosts over WinRM, and Attune has no WinRM runner",
	"winrm-ps-cmd":        "it runs PowerShell on Windows hosts over WinRM, and Attune has no WinRM runner",
	"winrm-ps-script":     "it runs PowerShell scripts on Windows hosts over WinRM, and Attune has no WinRM runner",
	"announcement":        "it publishes to StackStorm's announcement message bus, which Attune does not have",
	"mistral-v2":          "Mistral workflows were removed from StackStorm in 3.3: rewrite the workflow in Orquesta",
	"cloudslang":          "CloudSlang was removed from StackStorm: Attune has no CloudSlang runner",
}

// ParseStackStormRunnerType reads a StackStorm action's runner_type: StackStorm's names and
// their aliases, canonicalised; the runners Attune cannot run are refused with the reason.
func ParseStackStormRunnerType(s string) (RunnerType, error) {
	if r := RunnerType(s); slices.Contains(StackStormRunnerTypes, r) {
		return r, nil
	}
	if r, ok := stackStormAliases[s]; ok {
		return r, nil
	}
	if why, ok := refusedRunners[s]; ok {
		return "", fmt.Errorf("runner %q is not supported: %s", s, why)
	}
	names := make([]string, 0, len(StackStormRunnerTypes))
	for _, r := range StackStormRunnerTypes {
		names = append(names, string(r))
	}
	return "", fmt.Errorf("unknown StackStorm runner %q (want one of %s)", s, strings.Join(names, ", "))
}

// IsWorkflow reports a runner whose action is a workflow run by the workflow engine rather
// than a process or builtin run by a worker.
func (r RunnerType) IsWorkflow() bool {
	return r == RunnerWorkflow || r == RunnerOrquesta || r == RunnerActionChain
}

// StackStormPack is what a StackStorm pack.yaml declares beyond ref, version and description:
// recorded so that `attune pack get` shows the pack as its author described it.
type StackStormPack struct {
	Name              string   `json:"name"`
	Author            string   `json:"author,omitempty"`
	Email             string   `json:"email,omitempty"`
	Keywords          []string `json:"keywords,omitempty"`
	Contributors      []string `json:"contributors,omitempty"`
	StackStormVersion string   `json:"stackstorm_version,omitempty"`
	PythonVersions    []string `json:"python_versions,omitempty"`
	// Dependencies are other packs, as `st2 pack install` names them ("<name or URL>[=<version>]").
	Dependencies []string `json:"dependencies,omitempty"`
	// System is free-form: StackStorm documents no keys for it.
	System map[string]any `json:"system,omitempty"`
}
