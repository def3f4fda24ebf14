package docker

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/jsonstream"
)

// IsTerminal reports whether w is a terminal, where progress is drawn in
// place; elsewhere (CI logs, pipes, files) it is written as plain lines.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// Progress shows the layers of a push or a pull as they move. On a terminal
// it keeps one line per layer, redrawn in place with a bar; elsewhere it
// writes one plain line each time a layer changes state, never one per
// chunk of bytes. Messages that are not about a layer (the repository being
// pushed, the final digest) are written as they come.
type Progress struct {
	w      io.Writer
	tty    bool
	layers []string          // layer IDs in the order they appeared
	lines  map[string]string // the line shown for each layer
	drawn  int               // how many layer lines are on the screen (tty)
}

// NewProgress returns a Progress writing to w, drawing in place when tty.
func NewProgress(w io.Writer, tty bool) *Progress {
	return &Progress{w: w, tty: tty, lines: map[string]string{}}
}

// Update shows one message of the engine's stream.
func (p *Progress) Update(m jsonstream.Message) {
	if p == nil || p.w == nil {
		return
	}
	if m.Status == "" {
		return // auxiliary data only
	}
	if m.ID == "" {
		p.layers, p.drawn = nil, 0 // the layer lines above stay as they are
		fmt.Fprintln(p.w, m.Status)
		return
	}
	if p.tty {
		p.show(m.ID, layerLine(m, true))
		p.redraw()
		return
	}
	line := layerLine(m, false)
	if p.show(m.ID, line) {
		fmt.Fprintln(p.w, line)
	}
}

// show records line for layer id and reports whether it changed.
func (p *Progress) show(id, line string) bool {
	old, seen := p.lines[id]
	if !seen {
		p.layers = append(p.layers, id)
	}
	p.lines[id] = line
	return !seen || old != line
}

func (p *Progress) redraw() {
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn) // back to the first layer line
	}
	for _, id := range p.layers {
		b.WriteString("\x1b[2K") // clear the old line
		b.WriteString(p.lines[id])
		b.WriteByte('\n')
	}
	p.drawn = len(p.layers)
	_, _ = io.WriteString(p.w, b.String())
}

// layerLine renders a layer's state: "5f70bf18a086: Pushing" in plain mode,
// with a bar and byte counts added on a terminal.
func layerLine(m jsonstream.Message, withBar bool) string {
	line := m.ID + ": " + m.Status
	if !withBar || m.Progress == nil || m.Progress.Total <= 0 {
		return line
	}
	const width = 24
	current := min(max(m.Progress.Current, 0), m.Progress.Total)
	filled := int(int64(width) * current / m.Progress.Total)
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", width-filled)
	if filled > 0 && filled < width {
		bar = strings.Repeat("=", filled-1) + ">" + strings.Repeat(" ", width-filled)
	}
	return fmt.Sprintf("%-40s [%s] %s/%s", line, bar,
		units.HumanSizeWithPrecision(float64(current), 3), units.HumanSizeWithPrecision(float64(m.Progress.Total), 3))
}
