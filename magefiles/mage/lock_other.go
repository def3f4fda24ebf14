//go:build !unix

package main

// lock does nothing where there is no flock: two mage commands started at
// once in one checkout may then still fail to build, as with plain Mage.
func lock(string) (func(), error) { return func() {}, nil }
