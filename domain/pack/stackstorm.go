package pack

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
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
	// The remote runners run over SSH (adapters/runtime/st2 and adapters/sshexec).
	RunnerRemoteShellCmd    RunnerType = "remote-shell-cmd"
	RunnerRemoteShellScript RunnerType = "remote-shell-script"
)

// StackStormRunnerTypes lists the StackStorm runners Attune runs.
var StackStormRunnerTypes = []RunnerType{
	RunnerLocalShellCmd, RunnerLocalShellScript, RunnerPythonScript, RunnerHTTPRequest,
	RunnerNoop, RunnerInquirer, RunnerOrquesta, RunnerActionChain,
	RunnerRemoteShellCmd, RunnerRemoteShellScript,
}

// stackStormAliases are the older names StackStorm still accepts for its runners.
var stackStormAliases = map[string]RunnerType{
	"run-local":         RunnerLocalShellCmd,
	"run-local-script":  RunnerLocalShellScript,
	"run-python":        RunnerPythonScript,
	"http-runner":       RunnerHTTPRequest,
	"run-remote":        RunnerRemoteShellCmd,
	"run-remote-script": RunnerRemoteShellScript,
}

// refusedRunners are StackStorm runners Attune does not run, with the reason a pack author
// reads at load.
var refusedRunners = map[string]string{
	"winrm-cmd":       "it runs commands on Windows hosts over WinRM, and Attune has no WinRM runner",
	"winrm-ps-cmd":    "it runs PowerShell on Windows hosts over WinRM, and Attune has no WinRM runner",
	"winrm-ps-script": "it runs PowerShell scripts on Windows hosts over WinRM, and Attune has no WinRM runner",
	"announcement":    "it publishes to StackStorm's announcement message bus, which Attune does not have",
	"mistral-v2":      "Mistral workflows were removed from StackStorm in 3.3: rewrite the workflow in Orquesta",
	"cloudslang":      "CloudSlang was removed from StackStorm: Attune has no CloudSlang runner",
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

// IsStackStorm reports one of StackStorm's runners.
func (r RunnerType) IsStackStorm() bool { return slices.Contains(StackStormRunnerTypes, r) }

// OutputKey is the key of a run's result that a StackStorm action's output_schema describes
// (the output_key of StackStorm's runner.yaml), or "" for a runner whose output Attune does
// not check.
func (r RunnerType) OutputKey() string {
	switch r {
	case RunnerLocalShellCmd, RunnerLocalShellScript:
		return "stdout"
	case RunnerPythonScript:
		return "result"
	case RunnerHTTPRequest:
		return "body"
	}
	return ""
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

// StackStormRunnerParams are the runner parameters of each StackStorm runner Attune runs, as
// StackStorm's runner.yaml files define them, less those Attune cannot honour (sudo_password,
// content_version, the http runner's host lists): an action takes them besides its own, and
// may override their attributes (a default, immutable) in its parameters. A runner reads them;
// they are not passed to the script.
func StackStormRunnerParams(r RunnerType) Params {
	str := func(desc string) Param { return Param{Type: ParamString, Description: desc} }
	obj := func(desc string) Param { return Param{Type: ParamObject, Description: desc} }
	boolean := func(desc string, def bool) Param {
		return Param{Type: ParamBoolean, Description: desc, Default: json.RawMessage(strconv.FormatBool(def))}
	}
	timeout := func(def int) Param {
		return Param{Type: ParamInteger, Description: "Action timeout in seconds. Action will get killed if it doesn't finish in timeout seconds.",
			Default: json.RawMessage(strconv.Itoa(def))}
	}
	shell := Params{
		"cwd":      str("Working directory where the command will be executed in"),
		"env":      obj("Environment variables which will be available to the command"),
		"kwarg_op": {Type: ParamString, Description: `Operator to use in front of keyword args i.e. "--" or "-".`, Default: json.RawMessage(`"--"`)},
		"sudo":     boolean("The command will be executed with sudo (refused: attune runs actions as the worker's action user).", false),
		"timeout":  timeout(60),
	}
	switch r {
	case RunnerLocalShellCmd:
		p := maps.Clone(shell)
		p["cmd"] = str("Arbitrary Linux command to be executed on the host.")
		return p
	case RunnerLocalShellScript:
		return maps.Clone(shell)
	case RunnerPythonScript:
		return Params{
			"env":       obj("Environment variables which will be available to the script."),
			"timeout":   timeout(600),
			"log_level": {Type: ParamString, Description: "Default log level for Python runner actions.", Default: json.RawMessage(`"DEBUG"`)},
		}
	case RunnerRemoteShellCmd, RunnerRemoteShellScript:
		return remoteRunnerParams(r, shell)
	case RunnerHTTPRequest:
		return Params{
			"url":             {Type: ParamString, Description: "URL to the HTTP endpoint.", Required: true},
			"headers":         obj("HTTP headers for the request."),
			"cookies":         obj("Optional cookies to send with the request."),
			"username":        str("Username required by basic authentication."),
			"password":        {Type: ParamString, Description: "Password required by basic authentication.", Secret: true},
			"allow_redirects": boolean("Set to True if POST/PUT/DELETE redirect following is allowed.", false),
			"verify_ssl_cert": boolean("Certificate for HTTPS request is verified by default.", true),
			"http_proxy":      str("URL of HTTP proxy to use."),
			"https_proxy":     str("URL of HTTPS proxy to use."),
		}
	}
	return nil
}

// remoteRunnerParams are the remote runners' parameters, as StackStorm's remote_runner
// runner.yaml defines them: the local runners' (cwd defaulting to /tmp on the remote host)
// and the SSH connection's. The credentials are secret, so they are masked and never
// written to the event log in plaintext.
func remoteRunnerParams(r RunnerType, shell Params) Params {
	secret := func(desc string) Param { return Param{Type: ParamString, Description: desc, Secret: true} }
	p := maps.Clone(shell)
	p["cwd"] = Param{Type: ParamString, Description: "Working directory where the command will be executed in on the remote host(s).", Default: json.RawMessage(`"/tmp"`)}
	p["sudo"] = Param{Type: ParamBoolean, Description: "The remote command will be executed with sudo.", Default: json.RawMessage(`false`)}
	p["hosts"] = Param{Type: ParamString, Required: true,
		Description: "A comma delimited string of a list of hosts where the remote command will be executed. For example: example1.com,example2.com,example3.com:5555"}
	p["username"] = Param{Type: ParamString, Description: "Username used to log-in. If not provided, the worker's --ssh-user is used."}
	p["password"] = secret("Password used to log in. If not provided, the private key is used.")
	p["private_key"] = secret("Private key material or path to the private key file on the worker used to log in.")
	p["passphrase"] = secret("Passphrase for the private key, if needed.")
	p["sudo_password"] = secret("Sudo password. To be used when passwordless sudo is not allowed.")
	p["port"] = Param{Type: ParamInteger, Description: "SSH port. If not specified as part of the hosts list, default port will be used (22)."}
	p["parallel"] = Param{Type: ParamBoolean, Description: "Default to parallel execution.", Default: json.RawMessage(`false`), Immutable: true}
	p["bastion_host"] = Param{Type: ParamString, Description: "The host SSH connections will be proxied through. Note: This connection is made using the same parameters as the final connection."}
	p["dir"] = Param{Type: ParamString, Description: "The working directory where the script will be copied to on the remote host.", Default: json.RawMessage(`"/tmp"`)}
	switch r {
	case RunnerRemoteShellCmd:
		p["cmd"] = Param{Type: ParamString, Description: "Arbitrary Linux command to be executed on the remote host(s)."}
		dir := p["dir"]
		dir.Immutable = true
		p["dir"] = dir
	}
	return p
}
