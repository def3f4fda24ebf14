// Command mage is Mage (github.com/magefile/mage) for this repository, run
// as go tool mage. It is Mage itself, but for one thing: it compiles the
// magefiles under a lock, so that two mage commands started at once in one
// checkout cannot break each other's build. Mage writes its generated main
// file into magefiles/ and deletes it once compiled, so a second build
// running meanwhile would fail with "open ./mage_output_file.go: no such
// file or directory".
package main

import (
	"cmp"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/magefile/mage/mage"
	"github.com/magefile/mage/mg"
)

func main() {
	inv, cmd, err := mage.Parse(io.Discard, io.Discard, os.Args[1:])
	if err != nil || cmd != mage.None || inv.List || inv.Help || inv.Autocomplete {
		os.Exit(mage.Main()) // nothing to compile, or Mage's own message
	}
	inv.Stdout, inv.Stderr, inv.Stdin = os.Stdout, os.Stderr, os.Stdin
	inv.Dir = cmp.Or(inv.Dir, ".")
	inv.WorkDir = cmp.Or(inv.WorkDir, inv.Dir)
	exe, ok := compile(inv)
	if !ok {
		os.Exit(1) // Mage has said why
	}
	os.Exit(mage.RunCompiled(inv, exe, log.New(os.Stderr, "", 0)))
}

// compile builds the magefiles of inv, one build at a time on this
// machine, and returns the binary's path.
func compile(inv mage.Invocation) (string, bool) {
	errlog := log.New(os.Stderr, "Error: ", 0)
	cache := cmp.Or(inv.CacheDir, mg.CacheDir())
	if err := os.MkdirAll(cache, 0o700); err != nil {
		errlog.Println(err)
		return "", false
	}
	unlock, err := lock(filepath.Join(cache, "oc-lettings.lock"))
	if err != nil {
		errlog.Printf("locking the magefiles' build: %v", err)
		return "", false
	}
	defer unlock()
	files, err := mage.Magefiles(filepath.Join(inv.Dir, mage.MagefilesDirName), "", "", true)
	if err != nil {
		errlog.Printf("listing the magefiles: %v", err)
		return "", false
	}
	exe, err := mage.ExeName(cmp.Or(inv.GoCmd, "go"), cache, files)
	if err != nil {
		errlog.Println(err)
		return "", false
	}
	inv.CompileOut, inv.Args = exe, nil
	return exe, mage.Invoke(inv) == 0
}
