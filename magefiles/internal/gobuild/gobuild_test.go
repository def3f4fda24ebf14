package gobuild

import (
	"slices"
	"strings"
	"testing"
)

func TestCommand(t *testing.T) {
	c := Command(Options{
		Output: "bin/oc-lettings", Version: "v1.0.0", Commit: "abc123",
		GOOS: "linux", GOARCH: "amd64", Static: true,
	})
	if c.Name != "go" || c.Args[0] != "build" || c.Args[len(c.Args)-1] != MainPackage {
		t.Errorf("command = %s", c)
	}
	for _, want := range []string{"-trimpath", "-buildvcs=false", "bin/oc-lettings"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("command %s lacks %s", c, want)
		}
	}
	ldflags := c.Args[slices.Index(c.Args, "-ldflags")+1]
	for _, want := range []string{"buildinfo.Version=v1.0.0", "buildinfo.Commit=abc123"} {
		if !strings.Contains(ldflags, want) {
			t.Errorf("ldflags %q lack %q", ldflags, want)
		}
	}
	if got := strings.Join(c.Env, " "); got != "CGO_ENABLED=0 GOOS=linux GOARCH=amd64" {
		t.Errorf("env = %q", got)
	}
}

func TestCommandForHost(t *testing.T) {
	c := Command(Options{Output: "x", Version: "dev", Commit: "c"})
	if len(c.Env) != 0 {
		t.Errorf("host build sets env %v, want none", c.Env)
	}
}
