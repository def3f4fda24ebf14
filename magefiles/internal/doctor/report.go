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

func (s Status) String() string {
	switch s {
	case OK:
		return "ok"
	case Warn:
		return "warn"
	case Fail:
		return "FAIL"
	}
	return "skip"
}

// A Result is the outcome of one check: one row of the table.
type Result struct {
	Check  string  // what was checked: "Docker engine", "DOCKERHUB_PASS"
	Stages []Stage // the requested stages that need it
	Status Status
	Detail string // what was found; never the value of a variable
	Fix    string // what to do about a Warn or a Fail
	// Blocks lists the stages a Fail stands in the way of, when they are
	// not all of Stages.
	Blocks []Stage
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

// blocking narrows the stages a failure stands in the way of.
func (r Result) blocking(stages ...Stage) Result {
	r.Blocks = stages
	return r
}

// blocked returns the stages a failed result stands in the way of.
func (r Result) blocked() []Stage {
	if r.Status != Fail {
		return nil
	}
	if r.Blocks != nil {
		return intersect(r.Blocks, r.Stages)
	}
	return r.Stages
}

func (r Result) skip(detail string) Result {
	r.Status, r.Detail = Skip, detail
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
		for _, st := range res.blocked() {
			out[st]++
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
	if len(notReady) == 0 {
		return nil
	}
	var stages []Stage
	failures := 0
	for _, st := range r.Stages {
		if notReady[st] > 0 {
			stages = append(stages, st)
		}
	}
	for _, res := range r.Results {
		if res.Status == Fail {
			failures++
		}
	}
	return fmt.Errorf("not ready for %s: %d %s, each with its fix in the table above",
		and(stages), failures, plural(failures, "problem"))
}

// stageList names the stages of a row; "all" when they are every stage asked about.
func stageList(stages, asked []Stage) string {
	if slices.Equal(stages, asked) {
		return "all"
	}
	names := make([]string, len(stages))
	for i, s := range stages {
		names[i] = string(s)
	}
	return strings.Join(names, " ")
}

func and(stages []Stage) string {
	names := make([]string, len(stages))
	for i, s := range stages {
		names[i] = string(s)
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
