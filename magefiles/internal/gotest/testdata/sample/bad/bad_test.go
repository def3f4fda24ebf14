package bad

import "testing"

func TestFine(t *testing.T) {}

func TestBroken(t *testing.T) { t.Error("expected 1, got 2") }
