package main

import "testing"

func TestKeyValueKeepsWhatTheUserTyped(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in     string
		asJSON bool
		want   string
	}{
		{"hello", false, `"hello"`},
		{"42", false, `42`},
		{"-1.5", false, `-1.5`},
		{"1.10", false, `"1.10"`}, // a version, not the number 1.1
		{"007", false, `"007"`},
		{"1e3", false, `"1e3"`},
		{"1.0", false, `"1.0"`},
		{"1.10", true, `1.10`},
		{`{"a":1}`, false, `{"a":1}`},
		{`[1,2]`, false, `[1,2]`},
		{"true", false, `true`},
		{"null", false, `null`},
		{`"quoted"`, false, `"quoted"`},
		{" 42", false, `" 42"`},
		{"{not json", false, `"{not json"`},
	} {
		got, err := keyValue(tc.in, tc.asJSON)
		if err != nil || string(got) != tc.want {
			t.Errorf("keyValue(%q, json=%v) = %s, %v; want %s", tc.in, tc.asJSON, got, err, tc.want)
		}
	}
	if _, err := keyValue("{not json", true); err == nil {
		t.Error("--json accepted what is not JSON")
	}
}
