package buildinfo

import (
	"encoding/json"
	"testing"
)

// TestHealthJSON pins the /healthz body that the pipeline decodes.
func TestHealthJSON(t *testing.T) {
	tests := []struct {
		health Health
		want   string
	}{
		{Health{"ok", "v1.2.0", "0123abc"}, `{"status":"ok","version":"v1.2.0","commit":"0123abc"}`},
		{Health{Status: "ok"}, `{"status":"ok","version":"","commit":""}`},
	}
	for _, tt := range tests {
		got, err := json.Marshal(tt.health)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("json.Marshal(%+v) = %s, want %s", tt.health, got, tt.want)
		}
		var back Health
		if err := json.Unmarshal(got, &back); err != nil || back != tt.health {
			t.Errorf("decoding %s = %+v, %v; want %+v", got, back, err, tt.health)
		}
	}
}
