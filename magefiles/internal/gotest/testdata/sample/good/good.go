// Package good is covered by passing tests.
package good

// Double returns twice n.
func Double(n int) int { return 2 * n }
