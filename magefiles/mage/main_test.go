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

// TestHelpFitsATerminal: go tool mage -l, and -h of each target, print no
// line wider than 100 columns (a tab taken as 8), and -h keeps the line
// breaks of the doc comment (//mage:multiline) instead of one long line.
func TestHelpFitsATerminal(t *testing.T) {
	root := imagetest.Root(t)
	list, code := imagetest.Mage(t, root, nil, "-l")
	_, targets, _ := strings.Cut(list, "Targets:\n")
	if code != 0 || targets == "" {
		t.Fatalf("go tool mage -l: exit %d\n%s", code, list)
	}
	fits := func(args, out string) {
		for line := range strings.Lines(strings.ReplaceAll(out, "\t", "        ")) {
			if n := len([]rune(strings.TrimSuffix(line, "\n"))); n > 100 {
				t.Errorf("go tool mage %s: a line of %d columns: %s", args, n, line)
			}
		}
	}
	fits("-l", list)
	for line := range strings.Lines(targets) {
		if !strings.HasPrefix(line, "  ") {
			continue // "* default target"
		}
		target := strings.TrimSuffix(strings.Fields(line)[0], "*")
		help, code := imagetest.Mage(t, root, nil, "-h", target)
		if code != 0 || strings.Count(help, "\n") < 8 {
			t.Errorf("go tool mage -h %s: exit %d, lines joined?\n%s", target, code, help)
		}
		fits("-h "+target, help)
	}
}
