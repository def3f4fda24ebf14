package herokutest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// listRange is a parsed Range header of the Platform API:
//
//	<field> [\]]<first>..<last>[\[]; order=<asc|desc>, max=<n>
//
// The bounds are in listing order; "]" and "[" exclude them. An empty
// header lists by version, ascending, 200 at a time.
type listRange struct {
	field       string // id or version
	first, last string // "" means unbounded
	exclFirst   bool
	exclLast    bool
	desc        bool
	max         int
}

// Page sizes: Heroku's default and its maximum.
const (
	defaultMax = 200
	maxMax     = 1000
)

func parseRange(h string) (listRange, error) {
	r := listRange{field: "version", max: defaultMax}
	h = strings.TrimSpace(h)
	if h == "" {
		return r, nil
	}
	spec, params, _ := strings.Cut(h, ";")
	field, bounds, ok := strings.Cut(strings.TrimSpace(spec), " ")
	if !ok {
		field, bounds = strings.TrimSpace(spec), ".."
	}
	if field != "id" && field != "version" {
		return r, fmt.Errorf("releases can be ranged by id or version, not %q", field)
	}
	r.field = field
	first, last, ok := strings.Cut(strings.TrimSpace(bounds), "..")
	if !ok {
		return r, errors.New("bounds must look like first..last")
	}
	r.first, r.exclFirst = strings.CutPrefix(first, "]")
	r.last, r.exclLast = strings.CutSuffix(last, "[")
	for _, p := range strings.FieldsFunc(params, func(c rune) bool { return c == ',' || c == ';' }) {
		key, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch key {
		case "order":
			if val != "asc" && val != "desc" {
				return r, fmt.Errorf("order must be asc or desc, not %q", val)
			}
			r.desc = val == "desc"
		case "max":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 {
				return r, fmt.Errorf("max must be a positive number, not %q", val)
			}
			r.max = min(n, maxMax)
		default:
			return r, fmt.Errorf("unknown parameter %q", key)
		}
	}
	if r.field == "version" {
		for _, b := range []string{r.first, r.last} {
			if _, err := strconv.Atoi(b); b != "" && err != nil {
				return r, fmt.Errorf("%q is not a version", b)
			}
		}
	}
	return r, nil
}

// key is rel's value of the range's field.
func (r listRange) key(rel *release) string {
	if r.field == "id" {
		return rel.ID
	}
	return strconv.Itoa(rel.Version)
}

// contains reports whether rel is within the bounds.
func (r listRange) contains(rel *release) bool {
	// cmp < 0 when a comes before b in listing order.
	cmp := func(a, b string) int {
		var c int
		if r.field == "version" {
			x, _ := strconv.Atoi(a)
			y, _ := strconv.Atoi(b)
			c = x - y
		} else {
			c = strings.Compare(a, b)
		}
		if r.desc {
			c = -c
		}
		return c
	}
	k := r.key(rel)
	if r.first != "" {
		if c := cmp(k, r.first); c < 0 || (c == 0 && r.exclFirst) {
			return false
		}
	}
	if r.last != "" {
		if c := cmp(k, r.last); c > 0 || (c == 0 && r.exclLast) {
			return false
		}
	}
	return true
}

// params formats the order and page size for a Next-Range header.
func (r listRange) params() string {
	order := "asc"
	if r.desc {
		order = "desc"
	}
	return fmt.Sprintf("order=%s, max=%d", order, r.max)
}
