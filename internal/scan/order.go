package scan

import "cmp"

// ComparePaths orders relative paths the way Walk visits them: component by component, names
// compared bytewise, a directory before what it contains. It returns -1, 0 or +1. Two
// walks of similar trees can be merged with it, as a sorted-merge join.
func ComparePaths(a, b string) int {
	for i := range min(len(a), len(b)) {
		ca, cb := a[i], b[i]
		switch {
		case ca == cb:
			continue
		case ca == '/': // a's component ended first: it is the shorter name
			return -1
		case cb == '/':
			return 1
		case ca < cb:
			return -1
		default:
			return 1
		}
	}
	return cmp.Compare(len(a), len(b))
}
