package tests

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ordersvc/ordersvc/errortracking/sentrytest"
)

// sentryEvents returns the sink's events for which match is true.
func sentryEvents(sink *sentrytest.Sink, match func(sentrytest.Event) bool) ([]sentrytest.Event, error) {
	evs, err := sink.Events("event")
	if err != nil {
		return nil, fmt.Errorf("read the Sentry sink: %w", err)
	}
	return slices.DeleteFunc(evs, func(ev sentrytest.Event) bool { return !match(ev) }), nil
}

// waitSentryEvents waits until the sink holds at least n events for which
// match is true, and returns them with the time it saw the n-th arrive.
// It waits on the sink's change notification rather than polling, so the
// time is the envelope's arrival to within a scheduling delay — what a
// timing measured against it needs. If n are already there, the time is
// now.
func waitSentryEvents(sink *sentrytest.Sink, n int, timeout time.Duration, match func(sentrytest.Event) bool) ([]sentrytest.Event, time.Time, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		total := sink.Count("event")
		evs, err := sentryEvents(sink, match)
		if err != nil {
			return nil, time.Time{}, err
		}
		if len(evs) >= n {
			return evs, time.Now(), nil
		}
		if _, err := sink.WaitEvents(ctx, "event", total+1); err != nil {
			return evs, time.Time{}, fmt.Errorf("%d matching Sentry events after %s, want %d (%d events in the sink): %w", len(evs), timeout, n, total, err)
		}
	}
}
