package good

import "testing"

func TestDouble(t *testing.T) {
	if Double(2) != 4 {
		t.Fatal("wrong")
	}
}

func TestNeedsEngine(t *testing.T) { t.Skip("engine not running") }
