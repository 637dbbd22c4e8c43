package loadgen

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// errStopped is the cancel cause of a run ended by Generator.Stop.
var errStopped = errors.New("loadgen: stopped")

// Run drives the workload until a limit is reached or ctx ends, waits for
// the requests in flight (each bounded by Options.Timeout), and returns the
// report. The error is non-nil only for invalid options: failed requests
// are outcomes, counted in the report. Every goroutine Run starts has ended
// when it returns, and its idle connections are closed.
func Run(ctx context.Context, opts Options) (*Report, error) {
	g, err := Start(ctx, opts)
	if err != nil {
		return nil, err
	}
	return g.Wait(), nil
}

// Generator is a run in the background, started by Start. Its methods are
// safe for concurrent use.
type Generator struct {
	r      *runner
	cancel context.CancelCauseFunc
	done   chan struct{}
	final  *Report // set before done is closed
}

// Start validates opts and starts a run in the background. The run ends
// when a limit (Options.Duration, Options.Requests) is reached, when ctx
// ends, or on Stop; then the requests in flight are drained, each bounded
// by Options.Timeout, and Done is closed. Cancelling ctx does not abort the
// requests in flight; it only stops sending.
func Start(ctx context.Context, opts Options) (*Generator, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("invalid options: %w", err)
	}
	r := newRunner(opts)
	runCtx, cancel := context.WithCancelCause(ctx)
	sendCtx, cancelDeadline := runCtx, context.CancelFunc(func() {})
	if opts.Duration > 0 {
		sendCtx, cancelDeadline = context.WithDeadline(runCtx, r.start.Add(opts.Duration))
	}
	// Requests in flight when the run stops are finished, not aborted:
	// aborting them would count the stop itself as errors.
	reqCtx := context.WithoutCancel(ctx)

	g := &Generator{r: r, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(g.done)
		defer cancel(nil)
		defer cancelDeadline()
		stopProgress := r.startProgress(r.start)
		if opts.Rate > 0 {
			r.schedule(sendCtx, reqCtx, r.start)
		} else {
			r.flatOut(sendCtx, reqCtx)
		}
		reason := r.stopReason(ctx, runCtx)
		r.wg.Wait()
		elapsed := time.Since(r.start)
		stopProgress()
		r.client.CloseIdleConnections()
		g.final = r.report(elapsed, reason)
	}()
	return g, nil
}

// stopReason tells why the sending ended: the caller's context, Stop, the
// request budget, or else the duration.
func (r *runner) stopReason(parent, runCtx context.Context) string {
	switch {
	case parent.Err() != nil:
		return StopInterrupted
	case errors.Is(context.Cause(runCtx), errStopped):
		return StopStopped
	case r.budget.exhausted():
		return StopRequests
	default:
		return StopDuration
	}
}

// Stop ends the run if it is still sending, waits for the requests in
// flight (each bounded by Options.Timeout) and for every goroutine of the
// run, and returns the final report. Calling it again, or after the run
// ended by itself, returns the same final report.
func (g *Generator) Stop() *Report {
	g.cancel(errStopped)
	return g.Wait()
}

// Wait waits for the run to end by itself (a limit reached, or the context
// of Start ended) or by Stop, and returns the final report.
func (g *Generator) Wait() *Report {
	<-g.done
	return g.final.clone()
}

// Done returns a channel that is closed when the run has ended and its
// final report is ready.
func (g *Generator) Done() <-chan struct{} { return g.done }

// Snapshot returns the report of the run so far: the counts of the
// requests completed by now, with StopReason empty while the run goes on.
// After the run has ended it returns the final report.
func (g *Generator) Snapshot() *Report {
	select {
	case <-g.done:
		return g.final.clone()
	default:
		return g.r.report(time.Since(g.r.start), "")
	}
}
