package redact

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
		in      string
		want    string
	}{
		{"no secrets", nil, "user alice", "user alice"},
		{"one", []string{"hunter2"}, "pass=hunter2!", "pass=" + Mask + "!"},
		{"every occurrence", []string{"abc123"}, "abc123 and abc123", Mask + " and " + Mask},
		{"longest first", []string{"key", "key-long"}, "key-long", Mask},
		{"empty ignored", []string{""}, "text", "text"},
		{"several", []string{"pw", "token-9"}, "pw token-9", Mask + " " + Mask},
		{"repeated", []string{"pw", "xy", "pw", ""}, "pw xy", Mask + " " + Mask},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := New(tt.secrets...).String(tt.in); got != tt.want {
				t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNilRedactor(t *testing.T) {
	var r *Redactor
	if got := r.String("plain"); got != "plain" {
		t.Errorf("nil Redactor changed text: %q", got)
	}
	if err := r.Error(fs.ErrNotExist); err.Error() != fs.ErrNotExist.Error() || r.Error(nil) != nil {
		t.Errorf("nil Redactor changed an error: %v", err)
	}
}

func TestError(t *testing.T) {
	base := fs.ErrPermission
	err := New("s3cret").Error(errors.Join(errors.New("login with s3cret failed"), base))
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("secret left in error: %v", err)
	}
	if !errors.Is(err, base) {
		t.Errorf("redacted error lost its chain")
	}
	if New("s3cret").Error(nil) != nil {
		t.Errorf("Error(nil) should be nil")
	}
}

func TestWriterCatchesSecretSplitAcrossWrites(t *testing.T) {
	var out strings.Builder
	w := New("topsecretvalue").Writer(&out)
	for _, chunk := range []string{"line one topsec", "retvalue end\nsecond ", "topsecretvalue"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := "line one " + Mask + " end\nsecond " + Mask
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

func TestWriterLongLineWithoutNewline(t *testing.T) {
	var out strings.Builder
	w := New("needle-secret").Writer(&out)
	long := strings.Repeat("x", 70<<10)
	if _, err := w.Write([]byte(long + "needle-")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("secret")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "needle-secret") || !strings.HasSuffix(out.String(), Mask) {
		t.Errorf("secret split after a long line was not masked: ...%q", out.String()[len(out.String())-30:])
	}
}

func TestXML(t *testing.T) {
	r := New(`p<w>"&'d`)
	got := r.XML().String(`<failure message="p&lt;w&gt;&#34;&amp;&#39;d">raw p<w>"&'d</failure>`)
	if want := `<failure message="` + Mask + `">raw ` + Mask + `</failure>`; got != want {
		t.Errorf("XML().String = %s, want %s", got, want)
	}
	if (*Redactor)(nil).XML().String("x") != "x" {
		t.Error("a nil Redactor's XML masks something")
	}
}
