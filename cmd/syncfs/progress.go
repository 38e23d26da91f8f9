package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// liveLine is how every long command (flush, get, publish, recover) shows
// progress: on a terminal one line redrawn in place, otherwise a plain
// line every `every` (0: never), so that a log is not flooded.
type liveLine struct {
	w     io.Writer
	tty   bool
	every time.Duration

	mu    sync.Mutex // serializes output
	last  time.Time
	drawn bool
}

func newLiveLine(w io.Writer, every time.Duration) *liveLine {
	return &liveLine{w: w, tty: isTerminal(w), every: every}
}

// show draws s in place on a terminal; elsewhere it prints plain (the
// same text, or another one without the bar) when a line is due.
func (l *liveLine) show(s, plain string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tty {
		fmt.Fprintf(l.w, "\r%s\x1b[K", s)
		l.drawn = true
		return
	}
	if l.every > 0 && time.Since(l.last) >= l.every {
		fmt.Fprintln(l.w, plain)
		l.last = time.Now()
	}
}

// end finishes a line drawn in place.
func (l *liveLine) end() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.drawn {
		fmt.Fprintln(l.w)
		l.drawn = false
	}
}

// bar draws done of total in width cells.
func bar(done, total int64, width int) string {
	fill := width
	if total > 0 {
		fill = int(float64(width) * float64(min(done, total)) / float64(total))
	}
	return "[" + strings.Repeat("#", fill) + strings.Repeat(".", width-fill) + "]"
}

// eta is the time left for left bytes at rate bytes per second, "?" when
// nothing moves.
func eta(left int64, rate float64) string {
	if left <= 0 {
		return "0s"
	}
	if rate <= 0 {
		return "?"
	}
	return (time.Duration(float64(left)/rate) * time.Second).Round(time.Second).String()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
