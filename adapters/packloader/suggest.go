package packloader

import (
	"fmt"
	"strings"
)

// suggest names the allowed field closest to a misspelt one.
func suggest(key string, allowed []string) string {
	if len(allowed) == 0 {
		return ""
	}
	best, bestDist := "", 3 // more than two edits away is not a typo
	for _, a := range allowed {
		if d := distance(key, a); d < bestDist {
			best, bestDist = a, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %s?)", best)
	}
	return " (want one of " + strings.Join(allowed, ", ") + ")"
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
