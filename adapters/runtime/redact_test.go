package runtime_test

import (
	"encoding/json"
	"testing"

	"github.com/attune-go/attune/adapters/runtime"
)

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		params         string
		secrets        []string
		stdout, result string
		wantStdout     string
		wantResult     string
	}{
		{
			name: "string secret inside text and JSON", params: `{"token": "abc123", "user": "bob"}`, secrets: []string{"token"},
			stdout: "user bob token abc123", result: `{"auth":"token abc123","user":"bob"}`,
			wantStdout: "user bob token ********", wantResult: `{"auth":"token ********","user":"bob"}`,
		},
		{
			name: "a secret JSON escapes is found in the result", params: `{"pw": "a\"b\nc"}`, secrets: []string{"pw"},
			stdout: "a\"b\nc", result: `["a\"b\nc"]`,
			wantStdout: "********", wantResult: `["********"]`,
		},
		{
			name: "secret object: each leaf, longest first", params: `{"creds": {"key": "k-1", "pin": 4242, "key2": "k-1-long"}}`, secrets: []string{"creds"},
			stdout: "k-1-long k-1 4242", result: `{"pin":4242,"k-1":true}`,
			wantStdout: "******** ******** ********", wantResult: `{"********":true,"pin":"********"}`,
		},
		{
			name: "a result without secrets keeps its bytes", params: `{"token": "zzz"}`, secrets: []string{"token"},
			stdout: "fine", result: `{ "b": 1,  "a": "<&>" }`,
			wantStdout: "fine", wantResult: `{ "b": 1,  "a": "<&>" }`,
		},
		{
			name: "no secrets declared", params: `{"token": "abc"}`,
			stdout: "abc", result: `"abc"`, wantStdout: "abc", wantResult: `"abc"`,
		},
		{
			name: "empty or absent secret values mask nothing", params: `{"token": "", "other": null}`, secrets: []string{"token", "other", "missing"},
			stdout: "abc", result: `"abc"`, wantStdout: "abc", wantResult: `"abc"`,
		},
		{
			// base64("s3cr3t-token?>") in the standard and URL alphabets, padded and not.
			name: "the base64 spellings of a secret", params: `{"token": "s3cr3t-token?>"}`, secrets: []string{"token"},
			stdout:     "Authorization: Bearer czNjcjN0LXRva2VuPz4= url=czNjcjN0LXRva2VuPz4",
			result:     `{"h":"czNjcjN0LXRva2VuPz4","u":"czNjcjN0LXRva2VuPz4="}`,
			wantStdout: "Authorization: Bearer ******** url=********", wantResult: `{"h":"********","u":"********"}`,
		},
		{
			name: "a result that is not JSON is masked as text", params: `{"token": "abc"}`, secrets: []string{"token"},
			stdout: "", result: `not json abc`, wantStdout: "", wantResult: `not json ********`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := runtime.Redact(runtime.Outcome{Stdout: tt.stdout, Result: json.RawMessage(tt.result)}, json.RawMessage(tt.params), tt.secrets)
			if o.Stdout != tt.wantStdout || string(o.Result) != tt.wantResult {
				t.Errorf("stdout %q, result %s; want %q, %s", o.Stdout, o.Result, tt.wantStdout, tt.wantResult)
			}
		})
	}
}
