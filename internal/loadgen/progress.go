package loadgen

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// progressPrinter writes live progress lines. On a terminal each line
// overwrites the previous one; elsewhere (a pipe, a CI log) lines are
// appended so that the log stays readable.
type progressPrinter struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	printed bool // a line is on screen without its newline
}

// newProgressPrinter returns a printer to w; tty selects in-place updates.
func newProgressPrinter(w io.Writer, tty bool) *progressPrinter {
	return &progressPrinter{w: w, tty: tty}
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Print writes one progress line. Write errors are ignored: progress is
// best effort and must not stop a run.
func (pp *progressPrinter) Print(p Progress) {
	line := p.String()
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if pp.tty {
		// \r returns to the line start, \x1b[K clears what a longer
		// previous line left behind.
		_, _ = fmt.Fprintf(pp.w, "\r%s\x1b[K", line)
		pp.printed = true
		return
	}
	_, _ = fmt.Fprintln(pp.w, line)
}

// Finish ends an in-place line so that later output starts on a new line.
func (pp *progressPrinter) Finish() {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if pp.printed {
		_, _ = fmt.Fprintln(pp.w)
		pp.printed = false
	}
}

// String returns the text of one progress line: elapsed time, requests
// completed, then rate, error share, 4xx share and p50/p99 latency over the
// window since the previous line, requests in flight, and dropped requests
// if any.
func (p Progress) String() string {
	errShare, share4xx := 0.0, 0.0
	if p.WindowRequests > 0 {
		errShare = 100 * float64(p.WindowErrors) / float64(p.WindowRequests)
		share4xx = 100 * float64(p.Window4xx) / float64(p.WindowRequests)
	}
	p50, p99 := "-", "-" // no response in the window
	if p.P99 > 0 {
		p50, p99 = fmtDuration(p.P50), fmtDuration(p.P99)
	}
	line := fmt.Sprintf("%7.1fs %9d req %9.1f req/s  err %5.1f%%  4xx %5.1f%%  p50 %7s  p99 %7s  in-flight %d",
		p.Elapsed.Seconds(), p.Requests, p.Rate(), errShare, share4xx, p50, p99, p.InFlight)
	if p.Dropped > 0 {
		line += fmt.Sprintf("  dropped %d", p.Dropped)
	}
	return line
}
