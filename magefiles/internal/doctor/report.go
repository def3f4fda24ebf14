package doctor

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/redact"
)

// A Status is the outcome of one check.
type Status int

// The outcomes.
const (
	OK   Status = iota // ready
	Warn               // works, but worth knowing
	Fail               // a stage that needs it cannot work until it is fixed
	Skip               // not checked: it needs something that is missing
)

func (s Status) String() string { return [...]string{"ok", "warn", "FAIL", "skip"}[s] }

// A Result is the outcome of one check: one row of the table.
type Result struct {
	Check  string  // what was checked: "Docker engine", "DOCKERHUB_PASS"
	Stages []Stage // the requested stages that need it; for a Fail, those it stands in the way of
	Status Status
	Detail string // what was found; never the value of a secret
	Fix    string // what to do about a Warn or a Fail
}

func (r Result) ok(detail string) Result {
	r.Status, r.Detail = OK, detail
	return r
}

func (r Result) warn(detail, fix string) Result {
	r.Status, r.Detail, r.Fix = Warn, detail, fix
	return r
}

func (r Result) fail(detail, fix string) Result {
	r.Status, r.Detail, r.Fix = Fail, detail, fix
	return r
}

func (r Result) skip(detail string) Result {
	r.Status, r.Detail = Skip, detail
	return r
}

// blocking narrows a failure's stages to those it stands in the way of.
func (r Result) blocking(stages ...Stage) Result {
	r.Stages = intersect(r.Stages, stages)
	return r
}

// A Report holds the results of a run.
type Report struct {
	Stages  []Stage // the stages asked about
	Online  bool    // whether the online checks ran
	Results []Result

	redactor *redact.Redactor
}

// NotReady returns the stages that a failed check stands in the way of,
// with how many failures each.
func (r *Report) NotReady() map[Stage]int {
	out := map[Stage]int{}
	for _, res := range r.Results {
		for _, st := range res.Stages {
			if res.Status == Fail {
				out[st]++
			}
		}
	}
	return out
}

// Print writes the table and a summary to w.
func (r *Report) Print(w io.Writer) {
	out := r.redactor.Writer(w)
	defer func() { _ = out.Close() }()

	fmt.Fprintf(out, "Is this machine ready for %s?", and(r.Stages))
	switch {
	case r.Online:
		fmt.Fprint(out, " (online: the registries and Heroku were asked)\n\n")
	case slices.ContainsFunc(r.Stages, func(s Stage) bool { return s == Push || s == Deploy }):
		fmt.Fprint(out, " (offline: add -online to have the registries and Heroku check the credentials)\n\n")
	default:
		fmt.Fprint(out, "\n\n")
	}

	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	many := len(r.Stages) > 1 // else the STAGES column would say the same on every row
	row := func(check, stages, status, detail string) {
		if many {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", check, stages, status, detail)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", check, status, detail)
		}
	}
	row("CHECK", "STAGES", "STATUS", "DETAIL")
	for _, res := range r.Results {
		row(res.Check, stageList(res.Stages, r.Stages), res.Status.String(), res.Detail)
		if res.Fix != "" {
			row("", "", "", "fix: "+res.Fix)
		}
	}
	_ = tw.Flush()

	notReady := r.NotReady()
	var ready, blocked []string
	for _, st := range r.Stages {
		if n := notReady[st]; n > 0 {
			blocked = append(blocked, fmt.Sprintf("%s (%d %s)", st, n, plural(n, "problem")))
		} else {
			ready = append(ready, string(st))
		}
	}
	fmt.Fprintln(out)
	if len(ready) > 0 {
		fmt.Fprintf(out, "Ready for %s.\n", strings.Join(ready, ", "))
	}
	if len(blocked) > 0 {
		fmt.Fprintf(out, "Not ready for %s: each problem has its fix in the table.\n", strings.Join(blocked, ", "))
	}
}

// Err returns an error naming the stages that are not ready, or nil.
func (r *Report) Err() error {
	notReady := r.NotReady()
	stages := slices.DeleteFunc(slices.Clone(r.Stages), func(st Stage) bool { return notReady[st] == 0 })
	if len(stages) == 0 {
		return nil
	}
	failures := 0
	for _, res := range r.Results {
		if res.Status == Fail {
			failures++
		}
	}
	return fmt.Errorf("not ready for %s: %d %s, each with its fix in the table above",
		and(stages), failures, plural(failures, "problem"))
}

// names returns the stages' names.
func names(stages []Stage) []string {
	out := make([]string, len(stages))
	for i, s := range stages {
		out[i] = string(s)
	}
	return out
}

// stageList names the stages of a row; "all" when they are every stage asked about.
func stageList(stages, asked []Stage) string {
	if slices.Equal(stages, asked) {
		return "all"
	}
	return strings.Join(names(stages), " ")
}

// and joins the stages' names as a sentence does: "test, push and deploy".
func and(stages []Stage) string {
	n := names(stages)
	if len(n) < 2 {
		return strings.Join(n, "")
	}
	return strings.Join(n[:len(n)-1], ", ") + " and " + n[len(n)-1]
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
