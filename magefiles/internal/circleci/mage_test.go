package circleci

import (
	"context"
	"errors"
	"os/exec"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
)

// fakeTargets answers as mage would for a magefile with these targets.
type fakeTargets map[string]Usage

func (f fakeTargets) List(context.Context) ([]string, error) {
	names := make([]string, 0, len(f))
	for name := range f {
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

func (f fakeTargets) Usage(_ context.Context, target string) (Usage, error) {
	u, ok := f[target]
	if !ok {
		return Usage{}, errors.New("unknown target " + target)
	}
	return u, nil
}

// projectTargets are the targets the project's magefiles define.
var projectTargets = fakeTargets{
	"build": {}, "deploy": {}, "doctor": {Flags: true}, "heroku:create": {},
	"lint": {}, "push": {}, "run": {}, "runLocal": {}, "test": {},
	"release": {Args: []string{"version"}},
}

func TestMageCommands(t *testing.T) {
	tests := []struct {
		shell string
		want  [][]string
	}{
		{"go tool mage lint test", [][]string{{"lint", "test"}}},
		{"mage deploy", [][]string{{"deploy"}}},
		{"./bin/mage -v build", [][]string{{"-v", "build"}}},
		{"CI=true GOFLAGS=-mod=mod go tool mage test", [][]string{{"test"}}},
		{"go tool -n mage lint", [][]string{{"lint"}}},
		{"cd app && go tool mage build push; go tool mage deploy", [][]string{{"build", "push"}, {"deploy"}}},
		{"# comment go tool mage nothing\ngo tool mage \\\n  lint", [][]string{{"lint"}}},
		{"go tool mage test > out.log 2>&1", [][]string{{"test"}}},
		{"go tool mage doctor -stage=<< parameters.stage >>", [][]string{{"doctor", "-stage=<<parameters.stage>>"}}},
		{`go tool mage "lint" 'test'`, [][]string{{"lint", "test"}}},
		{"echo 'go tool mage lint'", nil},
		{"go test ./...", nil},
		{"go tool cover -func=c.out", nil},
		{"sudo apt-get install -y shellcheck", nil},
		{"go tool mage", [][]string{{}}},
	}
	for _, tt := range tests {
		if got := MageCommands(tt.shell); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("MageCommands(%q) = %q, want %q", tt.shell, got, tt.want)
		}
	}
}

func TestParseInvocation(t *testing.T) {
	tests := []struct {
		args    string
		targets []Call
		flags   []string
		err     string
	}{
		{args: "lint test", targets: []Call{{Target: "lint"}, {Target: "test"}}},
		{args: "-v -t 10m Build PUSH", flags: []string{"-v", "-t", "10m"}, targets: []Call{{Target: "build"}, {Target: "push"}}},
		{args: "-t=5m deploy", flags: []string{"-t=5m"}, targets: []Call{{Target: "deploy"}}},
		{args: "heroku:create deploy", targets: []Call{{Target: "heroku:create"}, {Target: "deploy"}}},
		{args: "doctor -stage=push -online lint", targets: []Call{{Target: "doctor", Args: []string{"-stage=push", "-online"}}, {Target: "lint"}}},
		{args: "release v1.2.0 deploy", targets: []Call{{Target: "release", Args: []string{"v1.2.0"}}, {Target: "deploy"}}},
		{args: "-l", flags: []string{"-l"}},
		{args: "-h deploy", flags: []string{"-h"}},
		{args: "", targets: nil},
		{args: "lint tset", err: `mage has no target "tset"`},
		{args: "heroku:destroy", err: `mage has no target "heroku:destroy"`},
		{args: "lint -v", err: `mage has no target "-v"`},
		{args: "release", err: "mage target release takes 1 argument(s) (version) and is given 0"},
	}
	for _, tt := range tests {
		inv, err := ParseInvocation(context.Background(), strings.Fields(tt.args), projectTargets)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseInvocation(%q) error = %v, want %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseInvocation(%q): %v", tt.args, err)
			continue
		}
		if !reflect.DeepEqual(inv.Targets, tt.targets) || !slices.Equal(inv.Flags, tt.flags) {
			t.Errorf("ParseInvocation(%q) = %+v, want flags %q targets %+v", tt.args, inv, tt.flags, tt.targets)
		}
	}
}

func TestParseList(t *testing.T) {
	out := `OC Lettings pipeline. Details of a target: go tool mage -h <target>.

Targets:
  build            compiles the site and builds the image.
  deploy*          releases the image on Heroku.
  heroku:create    creates the Heroku app.
  lint             runs golangci-lint and shellcheck.

* default target
`
	got, err := ParseList(out)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"build", "deploy", "heroku:create", "lint"}
	if !slices.Equal(got, want) {
		t.Errorf("ParseList = %q, want %q", got, want)
	}
	if _, err := ParseList("Error: magefile does not compile"); err == nil {
		t.Error("ParseList accepted output with no Targets: section")
	}
}

func TestParseUsage(t *testing.T) {
	tests := []struct {
		out  string
		want Usage
	}{
		{"Lint runs golangci-lint.\n\nUsage:\n\n\tmage lint\n\n", Usage{}},
		{"Usage:\n\n\tmage release <version> <channel>\n\n", Usage{Args: []string{"version", "channel"}}},
		{"Doctor checks.\n\nUsage:\n\n\tmage doctor [<flags>]\n\nFlags:\n\n\t-online=<bool>\n", Usage{Flags: true}},
		{"Usage:\n\n\tmage greet <name> [-greeting=<string>]\n\n", Usage{Args: []string{"name"}, Flags: true}},
	}
	for _, tt := range tests {
		got, err := ParseUsage(tt.out)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseUsage(%q) = %+v, %v; want %+v", tt.out, got, err, tt.want)
		}
	}
	if _, err := ParseUsage("Unknown target: \"x\""); err == nil {
		t.Error("ParseUsage accepted output with no Usage: line")
	}
}

// TestMageAnswersForTheRepository asks the repository's own mage, as mage
// lint does, and checks that the answers parse.
func TestMageAnswersForTheRepository(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	m := Mage{Runner: &runner.Runner{Out: &out}, Dir: "../../.."}
	ctx := context.Background()
	names, err := m.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"lint", "test"} {
		if !slices.Contains(names, want) {
			t.Errorf("mage -l lists %q, which lacks %s", names, want)
		}
	}
	u, err := m.Usage(ctx, "test")
	if err != nil || len(u.Args) != 0 {
		t.Errorf("Usage(test) = %+v, %v; want no arguments", u, err)
	}
	if _, err := m.Usage(ctx, "no-such-target"); err == nil || !strings.Contains(out.String(), "no-such-target") {
		t.Errorf("Usage of a target mage does not have: err = %v, output %q", err, out.String())
	}
}

// TestEveryTargetExplainsItself guards the targets a user sees: mage -l
// lists exactly the project's targets, and mage -h shows each one its own
// documentation (a mage alias can silently shadow a target, and would show
// another target's text).
func TestEveryTargetExplainsItself(t *testing.T) {
	var out strings.Builder
	r := &runner.Runner{Out: &out}
	m := Mage{Runner: r, Dir: "../../.."}
	ctx := context.Background()
	names, err := m.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"bench", "build", "deploy", "doctor", "heroku:create", "lint", "push", "run", "runLocal", "test"}
	if !slices.Equal(names, want) {
		t.Errorf("mage -l lists %q, want %q", names, want)
	}
	for _, name := range names {
		help, err := r.Output(ctx, runner.Cmd{Name: "go", Args: []string{"tool", "mage", "-h", name}, Dir: "../../.."})
		if err != nil {
			t.Errorf("mage -h %s: %v", name, err)
			continue
		}
		_, fn, _ := strings.Cut(name, ":") // heroku:create is documented as Create
		if fn == "" {
			fn = name
		}
		first, _, _ := strings.Cut(help, " ")
		if !strings.EqualFold(first, fn) || !strings.Contains(strings.ToLower(help), "mage "+strings.ToLower(name)) {
			t.Errorf("mage -h %s shows another target's help:\n%s", name, help)
		}
	}
}
