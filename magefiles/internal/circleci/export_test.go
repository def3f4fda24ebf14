package circleci

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Job and Pipeline read the delivery workflow for the pipeline's end-to-end
// test (pipeline_test.go): only tests need them.

// A Job is one job of the delivery workflow, as the end-to-end test runs it.
type Job struct {
	Name     string
	Requires []string          // the jobs it waits for
	Contexts []string          // the contexts whose variables it gets
	Env      map[string]string // the job's environment:
	Mage     [][]string        // the words after `go tool mage` of each mage command its run steps run, in order
	OnFail   [][]string        // the same for the run steps that run only when the job fails (when: on_fail)
}

// Pipeline returns the jobs of the delivery workflow in the order they run,
// with the mage commands of the run steps written in their steps: (in when
// and unless blocks too; not those reached through an alias).
func (c *Config) Pipeline() ([]Job, error) {
	_, wjobs := c.delivery()
	var jobs []Job
	for _, name := range chain {
		wj, ok := wjobs[name]
		if !ok {
			return nil, fmt.Errorf("%s: the delivery workflow does not run %s", c.file, name)
		}
		j := Job{Name: name, Requires: slices.Sorted(maps.Keys(wj.requires)), Contexts: strs(wj.conf["context"])}
		j.Env = map[string]string{}
		for k, v := range mapOf(get(get(c.doc["jobs"], wj.job), "environment")) {
			j.Env[k] = fmt.Sprint(v)
		}
		for _, r := range c.runs {
			if strings.HasPrefix(r.path, "/jobs/"+wj.job+"/steps/") && r.When == "on_fail" {
				j.OnFail = append(j.OnFail, mageCommands(r.Command)...)
			} else if strings.HasPrefix(r.path, "/jobs/"+wj.job+"/steps/") {
				j.Mage = append(j.Mage, mageCommands(r.Command)...)
			}
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}
