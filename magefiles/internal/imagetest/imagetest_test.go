package imagetest

import (
	"slices"
	"strings"
	"testing"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/settings"
)

func TestEnvDropsEveryPipelineVariable(t *testing.T) {
	names := []string{"MAGEFILE_VERBOSE"}
	for _, v := range settings.All {
		names = append(names, v.Name)
	}
	for _, name := range names {
		t.Setenv(name, "from-the-developer")
	}
	t.Setenv("OC_LETTINGS_UNRELATED", "kept")

	env := Env(map[string]string{"IMAGE_NAME": "from-the-test"})
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		if slices.Contains(names, name) && value == "from-the-developer" {
			t.Errorf("%s leaks into the test run", kv)
		}
	}
	for _, want := range []string{"IMAGE_NAME=from-the-test", "OC_LETTINGS_UNRELATED=kept"} {
		if !slices.Contains(env, want) {
			t.Errorf("Env lacks %s", want)
		}
	}
}
