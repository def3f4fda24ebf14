package circleci

import (
	"context"
	"strings"
	"testing"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

// TestTheProjectConfigPassesMageLint runs the check as mage lint does: on
// the repository, with the schema when it is next to it, asking the
// repository's own mage which targets exist.
func TestTheProjectConfigPassesMageLint(t *testing.T) {
	var out strings.Builder
	r := &runner.Runner{Out: &out}
	if err := Lint(context.Background(), "../../..", settings.Map(nil), Mage{Runner: r, Dir: "../../.."}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if out.Len() > 0 {
		t.Logf("%s", out.String()) // the notice when the schema is absent
	}
}

// BenchmarkLint measures the whole check of the project's config, as mage
// lint runs it: reading the config and the schema, validating, and asking
// mage for its targets (go tool mage -l and -h, child processes).
func BenchmarkLint(b *testing.B) {
	var out strings.Builder
	r := &runner.Runner{Out: &out}
	for b.Loop() {
		if err := Lint(context.Background(), "../../..", settings.Map(nil), Mage{Runner: r, Dir: "../../.."}, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckOffline measures the same without mage's child processes:
// schema compilation and validation, and the structural check.
func BenchmarkCheckOffline(b *testing.B) {
	for b.Loop() {
		if err := Lint(context.Background(), "../../..", settings.Map(nil), projectTargets, &strings.Builder{}); err != nil {
			b.Fatal(err)
		}
	}
}
