// Package buildcontext makes the build context of the site's image in
// memory. It reads the Dockerfile for what the build needs (the files COPY
// and ADD take from the context, and the build arguments ARG declares) and
// packs exactly those files into a tar archive with fixed times and owners,
// so an unchanged file gives an unchanged layer and nothing else on disk
// (an .env file, a credentials file) can reach the engine.
package buildcontext

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
)

// Dockerfile is what the build needs to know about a Dockerfile.
type Dockerfile struct {
	Text    []byte   // the file itself
	Sources []string // context paths that COPY and ADD read, cleaned, in order, without repeats
	Args    []string // build arguments declared with ARG, in order, without repeats
}

// Parse reads a Dockerfile. It understands comments, line continuations
// with a backslash, and the shell and JSON forms of COPY and ADD, and
// refuses what it cannot turn into a list of files: wildcards, directories,
// paths outside the context, heredocs.
func Parse(text []byte) (Dockerfile, error) {
	d := Dockerfile{Text: text}
	instructions, err := split(text)
	if err != nil {
		return Dockerfile{}, err
	}
	for _, in := range instructions {
		keyword, rest, _ := strings.Cut(in.text, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(keyword) {
		case "ARG":
			for _, field := range strings.Fields(rest) {
				name, _, _ := strings.Cut(field, "=")
				if !slices.Contains(d.Args, name) {
					d.Args = append(d.Args, name)
				}
			}
		case "COPY", "ADD":
			sources, err := copySources(rest)
			if err != nil {
				return Dockerfile{}, fmt.Errorf("Dockerfile line %d (%s): %w", in.line, keyword, err)
			}
			for _, s := range sources {
				if !slices.Contains(d.Sources, s) {
					d.Sources = append(d.Sources, s)
				}
			}
		}
	}
	return d, nil
}

type instruction struct {
	line int    // where it starts, counting from 1
	text string // continuation lines joined, comments dropped
}

// split returns the Dockerfile's instructions, with continuation lines
// joined and comment lines dropped.
func split(text []byte) ([]instruction, error) {
	var (
		out     []instruction
		current strings.Builder
		start   int
	)
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			directive := strings.ToLower(strings.ReplaceAll(line, " ", ""))
			if strings.HasPrefix(directive, "#escape=") && len(out) == 0 && current.Len() == 0 {
				return nil, fmt.Errorf("Dockerfile line %d: the escape directive is not supported; keep the backslash", n)
			}
			continue
		}
		if line == "" && current.Len() == 0 {
			continue
		}
		if current.Len() == 0 {
			start = n
		}
		if strings.Contains(line, "<<") && current.Len() == 0 && isCopyOrAdd(line) {
			return nil, fmt.Errorf("Dockerfile line %d: heredocs are not supported by the classic builder", n)
		}
		body, continued := strings.CutSuffix(line, `\`)
		current.WriteString(strings.TrimSpace(body))
		if continued {
			current.WriteByte(' ')
			continue
		}
		out = append(out, instruction{line: start, text: current.String()})
		current.Reset()
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the Dockerfile: %w", err)
	}
	if current.Len() > 0 {
		out = append(out, instruction{line: start, text: strings.TrimSpace(current.String())})
	}
	return out, nil
}

func isCopyOrAdd(line string) bool {
	keyword, _, _ := strings.Cut(line, " ")
	return strings.EqualFold(keyword, "COPY") || strings.EqualFold(keyword, "ADD")
}

// copySources returns the context paths a COPY or ADD reads: all its
// arguments but the last, after the flags. A copy from another build stage
// (--from) and a download (an http or https URL) read nothing from the
// context.
func copySources(args string) ([]string, error) {
	fields := strings.Fields(args)
	for len(fields) > 0 && strings.HasPrefix(fields[0], "--") {
		if strings.HasPrefix(fields[0], "--from=") {
			return nil, nil
		}
		fields = fields[1:]
	}
	rest := strings.Join(fields, " ")
	var words []string
	if strings.HasPrefix(rest, "[") {
		if err := json.Unmarshal([]byte(rest), &words); err != nil {
			return nil, fmt.Errorf("the JSON form %s is not a list of strings: %w", rest, err)
		}
	} else {
		words = strings.Fields(rest)
	}
	if len(words) < 2 {
		return nil, fmt.Errorf("want at least a source and a destination, got %q", rest)
	}
	var sources []string
	for _, w := range words[:len(words)-1] {
		if strings.HasPrefix(w, "http://") || strings.HasPrefix(w, "https://") {
			continue
		}
		s, err := cleanSource(w)
		if err != nil {
			return nil, err
		}
		sources = append(sources, s)
	}
	return sources, nil
}

// cleanSource returns w as a path inside the context, or an error when it is
// not one plain file path.
func cleanSource(w string) (string, error) {
	if strings.ContainsAny(w, "*?[$") {
		return "", fmt.Errorf("source %q: wildcards and variables are not supported; name each file", w)
	}
	p := path.Clean(strings.TrimPrefix(w, "/"))
	switch {
	case p == "." || strings.HasSuffix(w, "/"):
		return "", fmt.Errorf("source %q: directories are not supported; name each file", w)
	case p == ".." || strings.HasPrefix(p, "../"):
		return "", fmt.Errorf("source %q is outside the build context", w)
	}
	return p, nil
}
