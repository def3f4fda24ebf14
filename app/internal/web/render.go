package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
)

//go:embed templates
var templateFS embed.FS

// page is what every template receives: the base layout reads Title,
// Description and Section, the page's own "content" template reads Content.
type page struct {
	Title       string // the page's title, without the site name
	Description string // the page's meta description: one or two sentences of its own
	Section     string // navigation entry to mark as current: "home", "lettings", "profiles" or ""
	Content     any    // the page's own data
}

// errorContent is the Content of the error page.
type errorContent struct {
	Status    int
	Heading   string
	Message   string
	RequestID string // shown so a visitor can quote it; empty when not useful
}

// parseTemplates parses the embedded templates once, at start-up, and
// returns one template per page file, each made of the base layout and the
// file's "content" template. The static function resolves an asset's logical
// name to its hashed URL.
func parseTemplates(static func(name string) (string, error), names ...string) (map[string]*template.Template, error) {
	base, err := template.New("base.html").
		Funcs(template.FuncMap{"static": static}).
		ParseFS(templateFS, "templates/base.html")
	if err != nil {
		return nil, fmt.Errorf("web: parse base template: %w", err)
	}
	ts := make(map[string]*template.Template, len(names))
	for _, name := range names {
		t, err := base.Clone()
		if err == nil {
			_, err = t.ParseFS(templateFS, "templates/"+name)
		}
		if err != nil {
			return nil, fmt.Errorf("web: parse template %s: %w", name, err)
		}
		ts[name] = t
	}
	return ts, nil
}

// render executes t with p into a new byte slice.
func render(t *template.Template, p page) ([]byte, error) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, p); err != nil {
		return nil, fmt.Errorf("render %q: %w", p.Title, err)
	}
	return buf.Bytes(), nil
}

// htmlType is the Content-Type of pages, shared by responses.
var htmlType = []string{"text/html; charset=utf-8"}

// writeHTML writes an HTML page with the given status.
func writeHTML(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = htmlType
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body) // a failed write means the client has gone
}
