package buildcontext

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name        string
		dockerfile  string
		wantSources []string
		wantArgs    []string
		wantErr     string
	}{
		{
			name:        "the project's shape",
			dockerfile:  "FROM scratch\nCOPY oc-lettings /oc-lettings\nUSER 65532:65532\nARG VERSION=dev REVISION=unknown\nLABEL v=$VERSION\n",
			wantSources: []string{"oc-lettings"},
			wantArgs:    []string{"VERSION", "REVISION"},
		},
		{
			name:        "comments, blank lines, lower case, continuations",
			dockerfile:  "# a comment\n\nfrom scratch\ncopy \\\n  a.txt \\\n  b.txt /dst/\n# ARG HIDDEN\narg ONE\n",
			wantSources: []string{"a.txt", "b.txt"},
			wantArgs:    []string{"ONE"},
		},
		{
			name:        "JSON form, flags, leading slash, repeats",
			dockerfile:  "FROM scratch\nCOPY --chown=1:1 [\"/bin/app\", \"/app\"]\nADD bin/app /again\nARG X\nARG X=2\n",
			wantSources: []string{"bin/app"},
			wantArgs:    []string{"X"},
		},
		{
			name:       "from another stage or a URL reads nothing from the context",
			dockerfile: "FROM golang AS build\nFROM scratch\nCOPY --from=build /out/app /app\nADD https://example.com/x.tgz /x.tgz\n",
		},
		{
			name:       "wildcards are refused",
			dockerfile: "FROM scratch\nCOPY *.go /src/\n",
			wantErr:    "line 2 (COPY): source \"*.go\": wildcards",
		},
		{
			name:       "directories are refused",
			dockerfile: "FROM scratch\nCOPY . /src\n",
			wantErr:    "directories are not supported",
		},
		{
			name:       "outside the context",
			dockerfile: "FROM scratch\nCOPY ../secret /s\n",
			wantErr:    "outside the build context",
		},
		{
			name:       "a source without a destination",
			dockerfile: "FROM scratch\nCOPY lonely\n",
			wantErr:    "want at least a source and a destination",
		},
		{
			name:       "heredoc",
			dockerfile: "FROM scratch\nCOPY <<EOF /x\nhi\nEOF\n",
			wantErr:    "heredocs",
		},
		{
			name:       "escape directive",
			dockerfile: "# escape=`\nFROM scratch\n",
			wantErr:    "escape directive",
		},
		{
			name:       "broken JSON",
			dockerfile: "FROM scratch\nCOPY [\"a\", /b]\n",
			wantErr:    "JSON form",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.dockerfile))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(d.Sources) != fmt.Sprint(tt.wantSources) || fmt.Sprint(d.Args) != fmt.Sprint(tt.wantArgs) {
				t.Errorf("sources %q args %q, want %q %q", d.Sources, d.Args, tt.wantSources, tt.wantArgs)
			}
			if string(d.Text) != tt.dockerfile {
				t.Error("Text is not the Dockerfile")
			}
		})
	}
}

func TestTheRepositoryDockerfile(t *testing.T) {
	text, err := os.ReadFile("../../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(d.Sources) != "[oc-lettings]" {
		t.Errorf("the Dockerfile copies %q, want only the binary (mage build makes nothing else)", d.Sources)
	}
	ignore, err := os.ReadFile("../../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, line := range strings.Split(string(ignore), "\n") {
		if name, ok := strings.CutPrefix(strings.TrimSpace(line), "!"); ok {
			kept = append(kept, name)
		}
	}
	if fmt.Sprint(kept) != fmt.Sprint(d.Sources) || !strings.Contains(string(ignore), "\n*\n") {
		t.Errorf(".dockerignore keeps %q of everything, want only what the Dockerfile copies, %q", kept, d.Sources)
	}
	for _, arg := range []string{"VERSION", "REVISION", "CREATED", "SOURCE"} {
		if !strings.Contains(fmt.Sprint(d.Args), arg) {
			t.Errorf("the Dockerfile does not declare ARG %s, which mage build sets", arg)
		}
	}
}

type entry struct {
	name    string
	mode    int64
	content string
	hdr     *tar.Header
}

func readTar(t *testing.T, data []byte) []entry {
	t.Helper()
	var out []entry
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, entry{name: hdr.Name, mode: hdr.Mode, content: string(b), hdr: hdr})
	}
}

func TestMake(t *testing.T) {
	root := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		t.Helper()
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	binary := write("bin/image/app", "ELF...", 0o755)
	write("docs/readme.txt", "read me", 0o600)
	write(".env", "TOKEN=hunter2", 0o600) // must never reach the context
	write("app", "a stale file the build's own binary replaces", 0o644)

	d, err := Parse([]byte("FROM scratch\nCOPY app /app\nCOPY docs/readme.txt /readme\n"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := Make(d, root, map[string]string{"app": binary})
	if err != nil {
		t.Fatal(err)
	}
	got := readTar(t, data)
	want := []entry{
		{name: "Dockerfile", mode: 0o644, content: string(d.Text)},
		{name: "app", mode: 0o755, content: "ELF..."},
		{name: "docs/readme.txt", mode: 0o644, content: "read me"},
	}
	if len(got) != len(want) {
		t.Fatalf("context holds %d files, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.name != w.name || g.mode != w.mode || g.content != w.content {
			t.Errorf("file %d: %s %o %q, want %s %o %q", i, g.name, g.mode, g.content, w.name, w.mode, w.content)
		}
		if !g.hdr.ModTime.Equal(ModTime) || g.hdr.Uid != 0 || g.hdr.Gid != 0 || g.hdr.Uname != "" {
			t.Errorf("%s: time %v owner %d:%d %q, want fixed time and root", g.name, g.hdr.ModTime, g.hdr.Uid, g.hdr.Gid, g.hdr.Uname)
		}
	}
	if bytes.Contains(data, []byte("hunter2")) {
		t.Error("a file the Dockerfile does not copy reached the context")
	}

	// Same files, same bytes, whatever the files' own times.
	later := filepath.Join(root, "bin/image/app")
	if err := os.Chtimes(later, ModTime.AddDate(30, 0, 0), ModTime.AddDate(30, 0, 0)); err != nil {
		t.Fatal(err)
	}
	again, err := Make(d, root, map[string]string{"app": binary})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, again) {
		t.Error("the same files gave a different context")
	}
}

func TestMakeNamesAMissingSource(t *testing.T) {
	d, err := Parse([]byte("FROM scratch\nCOPY oc-lettings /oc-lettings\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Make(d, t.TempDir(), nil)
	if err == nil || !strings.Contains(err.Error(), "the Dockerfile copies oc-lettings, which is neither made by the build nor a file of the repository") {
		t.Errorf("error %v", err)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "oc-lettings"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Make(d, dir, nil); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a directory as a source: %v", err)
	}
}
