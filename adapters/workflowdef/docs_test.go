package workflowdef

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestGuideDocumentsEveryKey holds the workflow tables of the pack authoring guide to the keys
// Parse accepts: every key has a row in the table of its level, and every row is a key Parse
// accepts. A table follows its marker, <!-- keys: task -->, and names one key per row in
// backticks in its first column; with.items stands for the items key of with.
func TestGuideDocumentsEveryKey(t *testing.T) {
	t.Parallel()
	const guide = "../../docs/packs.md"
	raw, err := os.ReadFile(guide)
	if err != nil {
		t.Fatalf("read the pack guide: %v", err)
	}
	nested := func(parent string, keys []string) []string {
		out := make([]string, len(keys))
		for i, k := range keys {
			out[i] = parent + "." + k
		}
		return out
	}
	want := map[string][]string{
		"definition": definitionKeys,
		"task":       slices.Concat(taskKeys, nested("with", withKeys), nested("retry", retryKeys)),
		"transition": transitionKeys,
	}
	marker := regexp.MustCompile(`^<!--\s*keys:\s*(\S+)\s*-->$`)
	got := map[string][]string{}
	lines := strings.Split(string(raw), "\n")
	for i, line := range lines {
		m := marker.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		var keys []string
		// Skip the header and its |---| line; the table ends at the first line not a row.
		for j := i + 3; j < len(lines) && strings.HasPrefix(lines[j], "|"); j++ {
			first, _, _ := strings.Cut(strings.TrimPrefix(lines[j], "|"), "|")
			key := strings.Trim(strings.TrimSpace(first), "`")
			if key == "" || strings.ContainsAny(key, "` ") {
				t.Errorf("%s:%d: a key row starts with the key in backticks, got %q", guide, j+1, first)
				continue
			}
			keys = append(keys, key)
		}
		got[m[1]] = append(got[m[1]], keys...)
	}
	for level, keys := range want {
		for _, k := range keys {
			if !slices.Contains(got[level], k) {
				t.Errorf("%s: workflow %s key `%s` is not documented (a row in the table after <!-- keys: %s -->)", guide, level, k, level)
			}
		}
	}
	for level, keys := range got {
		if _, ok := want[level]; !ok {
			t.Errorf("%s: <!-- keys: %s --> names no level of a workflow definition", guide, level)
		}
		for _, k := range keys {
			if !slices.Contains(want[level], k) {
				t.Errorf("%s: `%s` is documented as a workflow %s key, which Parse does not accept", guide, k, level)
			}
		}
	}
}
