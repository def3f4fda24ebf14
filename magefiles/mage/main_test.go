package main

import (
	"strings"
	"sync"
	"testing"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/imagetest"
)

// TestMageTwiceAtOnce starts several mage commands at once in one
// checkout: each compiles the magefiles, and none may break another's
// build. Plain Mage fails about one run in three here.
func TestMageTwiceAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the magefiles several times: skipped with -short")
	}
	dir := imagetest.Repo(t)
	var wg sync.WaitGroup
	outs := make([]string, 6)
	for i := range outs {
		wg.Go(func() { outs[i], _ = imagetest.Mage(t, dir, nil, "doctor", "-stage=build") })
	}
	wg.Wait()
	for i, out := range outs {
		if strings.Contains(out, "mage_output_file.go") || strings.Contains(out, "error compiling magefiles") ||
			!strings.Contains(out, "Is this machine ready for build?") {
			t.Errorf("run %d of %d broke:\n%s", i+1, len(outs), out)
		}
	}
}
