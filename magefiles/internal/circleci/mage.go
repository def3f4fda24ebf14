package circleci

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/runner"
)

// Targets tells which mage targets exist and what arguments each takes.
// Mage implements it by asking mage itself; tests use a fake.
type Targets interface {
	// List returns the target names as mage -l prints them (lint,
	// heroku:create).
	List(ctx context.Context) ([]string, error)
	// Usage returns the arguments target takes, as mage -h prints them.
	Usage(ctx context.Context, target string) (Usage, error)
}

// Usage is what a target takes after its name on the command line.
type Usage struct {
	Args  []string // required arguments, in order
	Flags bool     // it also takes optional -name=value flags
}

// Mage asks the mage of the repository at Dir, through `go tool mage`.
type Mage struct {
	Runner *runner.Runner
	Dir    string // repository root
}

// List runs mage -l and parses what it prints.
func (m Mage) List(ctx context.Context) ([]string, error) {
	out, err := m.Runner.Output(ctx, runner.Cmd{Name: "go", Args: []string{"tool", "mage", "-l"}, Dir: m.Dir})
	if err != nil {
		return nil, fmt.Errorf("listing the mage targets (go tool mage -l): %w", err)
	}
	return ParseList(out)
}

// Usage runs mage -h target and parses its usage line.
func (m Mage) Usage(ctx context.Context, target string) (Usage, error) {
	out, err := m.Runner.Output(ctx, runner.Cmd{Name: "go", Args: []string{"tool", "mage", "-h", target}, Dir: m.Dir})
	if err != nil {
		return Usage{}, fmt.Errorf("reading the usage of mage target %s (go tool mage -h %s): %w", target, target, err)
	}
	return ParseUsage(out)
}

// ParseList returns the target names in the output of mage -l, without the
// mark of the default target.
func ParseList(out string) ([]string, error) {
	lines := strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n")
	start := slices.Index(lines, "Targets:")
	if start < 0 {
		return nil, errors.New(`mage -l printed no "Targets:" section`)
	}
	var names []string
	for _, line := range lines[start+1:] {
		if !strings.HasPrefix(line, "  ") {
			break // the blank line before "* default target", or the end
		}
		if fields := strings.Fields(line); len(fields) > 0 {
			names = append(names, strings.TrimSuffix(fields[0], "*"))
		}
	}
	return names, nil
}

// ParseUsage reads the usage line of mage -h target:
//
//	mage doctor <stage> [-online=<bool>]
func ParseUsage(out string) (Usage, error) {
	lines := strings.Split(strings.ReplaceAll(out, "\r\n", "\n"), "\n")
	i := slices.Index(lines, "Usage:")
	for i >= 0 && i+1 < len(lines) {
		i++
		line := strings.TrimSpace(lines[i])
		if line == "" {
			continue
		}
		var u Usage
		for _, f := range strings.Fields(line)[min(2, len(strings.Fields(line))):] {
			switch {
			case strings.HasPrefix(f, "<"):
				u.Args = append(u.Args, strings.Trim(f, "<>"))
			case strings.HasPrefix(f, "["):
				u.Flags = true
			}
		}
		return u, nil
	}
	return Usage{}, errors.New(`mage -h printed no "Usage:" line`)
}

// A MageRun is one mage command line in a job's run step.
type MageRun struct {
	Step Step     // the run step
	Args []string // the words after "go tool mage" (or "mage")
}

// MageRuns returns the mage command lines job runs, in step order, with the
// steps of the commands it invokes expanded. Only run steps whose command
// invokes `go tool mage` or `mage` count.
func (c *Config) MageRuns(job string) []MageRun {
	j := c.Jobs[job]
	if j == nil {
		return nil
	}
	var runs []MageRun
	c.walkSteps(j.Steps, func(s *Step) {
		if s.Type != "run" {
			return
		}
		for _, args := range MageCommands(s.Command) {
			runs = append(runs, MageRun{Step: *s, Args: args})
		}
	})
	return runs
}

// walkSteps calls fn for every step in steps, in order: each step, then the
// steps of the when or unless block it is, or of the command it invokes
// (each command once). It is the one way the package looks at steps, so
// that a step a command supplies counts as the job's own.
func (c *Config) walkSteps(steps []Step, fn func(*Step)) {
	seen := map[string]bool{}
	var walk func([]Step)
	walk = func(steps []Step) {
		for i := range steps {
			s := &steps[i]
			fn(s)
			walk(s.Nested)
			if cmd := c.Commands[s.Type]; cmd != nil && !builtinSteps[s.Type] && !seen[s.Type] {
				seen[s.Type] = true
				walk(cmd.Steps)
			}
		}
	}
	walk(steps)
}

// anyStep reports whether fn holds for a step walkSteps visits in steps.
func (c *Config) anyStep(steps []Step, fn func(*Step) bool) bool {
	found := false
	c.walkSteps(steps, func(s *Step) { found = found || fn(s) })
	return found
}

// MageCommands returns the arguments of every mage command line in a shell
// command: the words after `go tool mage` (go tool flags allowed) or after a
// program named mage, one list per command line. Words are split the way
// the shell splits them; nothing is expanded. A CircleCI parameter
// (<< parameters.x >>) stays one word, as CircleCI substitutes it before
// the shell runs.
func MageCommands(shell string) [][]string {
	shell = parameter.ReplaceAllStringFunc(shell, func(p string) string {
		return strings.Join(strings.Fields(p), "")
	})
	var out [][]string
	for _, words := range shellCommands(shell) {
		words = dropRedirections(words)
		for len(words) > 0 && isAssignment(words[0]) {
			words = words[1:] // FOO=bar go tool mage ...
		}
		switch {
		case len(words) >= 1 && filepath.Base(words[0]) == "mage":
			out = append(out, words[1:])
		case len(words) >= 3 && filepath.Base(words[0]) == "go" && words[1] == "tool":
			i := 2
			for i < len(words) && strings.HasPrefix(words[i], "-") {
				i++
			}
			if i < len(words) && words[i] == "mage" {
				out = append(out, words[i+1:])
			}
		}
	}
	return out
}

// parameter matches a CircleCI parameter reference: << parameters.stage >>.
var parameter = regexp.MustCompile(`<<[^<>]*>>`)

// redirection matches a shell redirection word: > file, 2>, >out.log.
var redirection = regexp.MustCompile(`^\d*(>>?|<)`)

// dropRedirections removes redirections (> log, 2>, <in) from a command's
// words, leaving the command and its arguments.
func dropRedirections(words []string) []string {
	var out []string
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case parameter.MatchString(w):
			out = append(out, w)
		case redirection.MatchString(w):
			if rest := redirection.ReplaceAllString(w, ""); rest == "" {
				i++ // the operator alone: its file is the next word
			}
		default:
			out = append(out, w)
		}
	}
	return out
}

func isAssignment(word string) bool {
	name, _, ok := strings.Cut(word, "=")
	if !ok || name == "" {
		return false
	}
	for i, r := range name {
		if r != '_' && (r < 'A' || r > 'Z') && (r < 'a' || r > 'z') && (i == 0 || r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// shellCommands splits a shell script into simple commands (separated by
// newlines, ;, &&, ||, | and &) and each command into words, honouring
// quotes, backslashes and comments.
func shellCommands(script string) [][]string {
	var (
		cmds    [][]string
		words   []string
		word    strings.Builder
		inWord  bool
		quote   rune // ' or " while inside quotes
		escaped bool
		comment bool
	)
	endWord := func() {
		if inWord {
			words = append(words, word.String())
			word.Reset()
			inWord = false
		}
	}
	endCmd := func() {
		endWord()
		if len(words) > 0 {
			cmds = append(cmds, words)
		}
		words = nil
	}
	for _, r := range script {
		switch {
		case comment:
			if r == '\n' {
				comment = false
				endCmd()
			}
		case escaped:
			escaped = false
			if r != '\n' { // a backslash-newline joins lines
				word.WriteRune(r)
				inWord = true
			}
		case quote != 0:
			switch {
			case r == quote:
				quote = 0
			case r == '\\' && quote == '"':
				escaped = true
			default:
				word.WriteRune(r)
			}
		case r == '\\':
			escaped = true
		case r == '\'' || r == '"':
			quote = r
			inWord = true
		case r == '#' && !inWord:
			comment = true
		case r == '\n' || r == ';' || r == '&' || r == '|':
			endCmd()
		case r == ' ' || r == '\t' || r == '\r':
			endWord()
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	endCmd()
	return cmds
}

// An Invocation is what one mage command line asks of mage.
type Invocation struct {
	Flags   []string // mage's own flags, e.g. -v or -t=10m
	Targets []Call   // the targets it runs, in order
}

// A Call is one target of an invocation with the arguments it takes.
type Call struct {
	Target string   // the target's name as mage -l lists it
	Args   []string // its required arguments and flags
}

// mage's own flags that take a value (the others are booleans).
var mageValueFlags = map[string]bool{
	"t": true, "d": true, "w": true, "gocmd": true, "goos": true, "goarch": true,
	"ldflags": true, "compile": true, "install": true,
}

// mage's own flags after which it runs no target.
var mageNoRunFlags = map[string]bool{
	"l": true, "h": true, "version": true, "init": true, "clean": true, "compile": true,
	"install": true, "autocomplete": true,
}

// ParseInvocation reads the words after "mage" the way mage does: its own
// flags, then targets, each followed by its required arguments and, when it
// takes them, its -name=value flags. Targets are matched case-insensitively,
// as mage matches them. A name mage does not list is an
// *UnknownTargetError, missing arguments an *ArgumentsError; the Invocation
// returned with them holds the targets read before.
func ParseInvocation(ctx context.Context, args []string, targets Targets) (Invocation, error) {
	var inv Invocation
	runs := true
	i := 0
	for ; i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "-" && args[i] != "--"; i++ {
		name, _, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		inv.Flags = append(inv.Flags, args[i])
		if mageValueFlags[name] && !hasValue && i+1 < len(args) {
			i++
			inv.Flags = append(inv.Flags, args[i])
		}
		if mageNoRunFlags[name] {
			runs = false
		}
	}
	if i < len(args) && args[i] == "--" {
		i++
	}
	if !runs || i == len(args) {
		return inv, nil // mage -l, mage -h x, or mage alone (its default target or the list)
	}
	names, err := targets.List(ctx)
	if err != nil {
		return inv, err
	}
	for i < len(args) {
		word := args[i]
		i++
		name := ""
		for _, n := range names {
			if strings.EqualFold(n, word) {
				name = n
				break
			}
		}
		if name == "" {
			return inv, &UnknownTargetError{Target: word, Targets: names}
		}
		usage, err := targets.Usage(ctx, name)
		if err != nil {
			return inv, err
		}
		call := Call{Target: name}
		if len(args)-i < len(usage.Args) {
			return inv, &ArgumentsError{Target: name, Want: usage.Args, Got: len(args) - i}
		}
		call.Args = append(call.Args, args[i:i+len(usage.Args)]...)
		i += len(usage.Args)
		for usage.Flags && i < len(args) && strings.HasPrefix(args[i], "-") {
			call.Args = append(call.Args, args[i])
			i++
		}
		inv.Targets = append(inv.Targets, call)
	}
	return inv, nil
}

// UnknownTargetError reports a mage target that mage does not list.
type UnknownTargetError struct {
	Target  string
	Targets []string // the targets mage lists
}

func (e *UnknownTargetError) Error() string {
	return fmt.Sprintf("mage has no target %q (go tool mage -l lists %s; aliases are not accepted here: use the target's name)",
		e.Target, strings.Join(e.Targets, ", "))
}

// ArgumentsError reports a mage target given fewer arguments than it takes.
type ArgumentsError struct {
	Target string
	Want   []string // the arguments it takes
	Got    int      // how many words followed it
}

func (e *ArgumentsError) Error() string {
	return fmt.Sprintf("mage target %s takes %d argument(s) (%s) and is given %d",
		e.Target, len(e.Want), strings.Join(e.Want, ", "), e.Got)
}
