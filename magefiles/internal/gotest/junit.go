package gotest

import (
	"encoding/xml"
	"fmt"
	"os"
	"strings"

	"github.com/oc-lettings/oc-lettings/magefiles/internal/redact"
)

// The JUnit XML shapes CircleCI's store_test_results reads.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Classname string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Body    string `xml:",chardata"`
}

// JUnit returns the report as JUnit XML: one suite per package, one case per
// test. A package that failed without a failing test (a build error, a
// panic in init, a timeout) appears as a failed case of its own.
func (r *Report) JUnit(red *redact.Redactor) ([]byte, error) {
	bySuite := map[string]*junitSuite{}
	var order []string
	suite := func(pkg string) *junitSuite {
		s := bySuite[pkg]
		if s == nil {
			s = &junitSuite{Name: pkg}
			bySuite[pkg] = s
			order = append(order, pkg)
		}
		return s
	}
	tests := r.Tests()
	for _, res := range tests {
		s := suite(res.Package)
		c := junitCase{Classname: res.Package, Name: res.Test, Time: seconds(res)}
		switch res.Action {
		case "fail":
			c.Failure = &junitMessage{Message: "Failed", Body: red.String(res.Output)}
			s.Failures++
		case "skip":
			c.Skipped = &junitMessage{Message: red.String(skipReason(res.Output))}
			s.Skipped++
		}
		s.Cases = append(s.Cases, c)
		s.Tests++
	}
	for _, res := range r.Packages() {
		s := suite(res.Package)
		s.Time = seconds(res)
		if res.Action == "fail" && !hasFailedTest(tests, res.Package) {
			s.Cases = append(s.Cases, junitCase{
				Classname: res.Package, Name: "(package)", Time: seconds(res),
				Failure: &junitMessage{Message: "package failed", Body: red.String(res.Output)},
			})
			s.Tests++
			s.Failures++
		}
	}
	r.mu.Lock()
	for path, b := range r.build {
		if strings.TrimSpace(b.String()) == "" {
			continue
		}
		s := suite(path)
		s.Cases = append(s.Cases, junitCase{
			Classname: path, Name: "(build)",
			Failure: &junitMessage{Message: "build failed", Body: red.String(b.String())},
		})
		s.Tests++
		s.Failures++
	}
	r.mu.Unlock()

	out := junitSuites{}
	for _, pkg := range order {
		out.Suites = append(out.Suites, *bySuite[pkg])
	}
	b, err := xml.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

// WriteJUnitFile writes the JUnit XML report to path, with red's secrets
// masked: CI keeps the file and shows it.
func (r *Report) WriteJUnitFile(path string, red *redact.Redactor) error {
	b, err := r.JUnit(red)
	if err != nil {
		return fmt.Errorf("encoding JUnit XML: %w", err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("writing JUnit XML: %w", err)
	}
	return nil
}

func seconds(res *Result) string {
	return fmt.Sprintf("%.3f", res.Elapsed.Seconds())
}
