package bad

import (
	"os"
	"testing"
)

func TestFine(t *testing.T) {}

func TestBroken(t *testing.T) {
	if token := os.Getenv("SAMPLE_TOKEN"); token != "" {
		t.Logf("the token is %s", token) // a test that shows a secret, which the report must mask
	}
	t.Error("expected 1, got 2")
}
