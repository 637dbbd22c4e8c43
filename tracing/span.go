package tracing

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/ordersvc/ordersvc/internal/httpx"
)

// Database systems, for StartQuery: the db.system values of the stores.
const (
	DBSystemSQLite     = "sqlite"
	DBSystemPostgreSQL = "postgresql"
)

// AttrDBSystem is the db.system attribute SPEC §11 names. Query spans also
// carry its current semantic-conventions name, db.system.name, with the
// same value, so backends of either generation recognise the store.
const AttrDBSystem = attribute.Key("db.system")

// maxStatusLen bounds an error's message in a span status.
const maxStatusLen = 256

// Span is a child span started by StartQuery or StartSpan. The zero Span
// (what a disabled Provider, or a context without a recording span, gives)
// does nothing.
type Span struct {
	span trace.Span
}

// End ends the span; a non-nil err other than sql.ErrNoRows (an answer,
// not a failure) sets its status to Error, with error.type and a bounded
// message. Calling End on the zero Span costs nothing.
func (s Span) End(err error) {
	if s.span == nil {
		return
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		s.span.SetAttributes(semconv.ErrorTypeKey.String(fmt.Sprintf("%T", err)))
		s.span.SetStatus(codes.Error, httpx.Clip(err.Error(), maxStatusLen))
	}
	s.span.End()
}

// StartQuery starts a client span for one store query, a child of the span
// in ctx, named "operation table" (e.g. "insert orders") with db.system
// (and db.system.name), db.operation.name and db.collection.name. It
// returns the context to run the query with and the Span to End with the
// query's error:
//
//	ctx, span := p.StartQuery(ctx, tracing.DBSystemSQLite, "insert", "orders")
//	err := run(ctx)
//	span.End(err)
//
// Only a query made for a recorded span gets one: with tracing off, for an
// unsampled request, or outside any request (scrape-time gauges, the
// migrations) it returns ctx and the zero Span, without allocating. The
// arguments must come from code, never from input: they become span names.
func (p *Provider) StartQuery(ctx context.Context, system, operation, table string) (context.Context, Span) {
	if !p.Enabled() || !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, Span{}
	}
	ctx, span := p.tracer.Start(ctx, operation+" "+table, p.clientStart...)
	span.SetAttributes(
		AttrDBSystem.String(system),
		semconv.DBSystemNameKey.String(system),
		semconv.DBOperationNameKey.String(operation),
		semconv.DBCollectionNameKey.String(table),
	)
	return ctx, Span{span: span}
}

// StartSpan starts an internal span named name, a child of the recording
// span in ctx, for work inside a request worth its own span (webhook
// processing, Sentry forwarding); attrs are set on it. Like StartQuery it
// returns ctx and the zero Span when there is nothing to record. name must
// be a constant, never input. Passing attrs costs their slice even with
// tracing off: for work that is not per query.
func (p *Provider) StartSpan(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, Span) {
	if !p.Enabled() || !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, Span{}
	}
	ctx, span := p.tracer.Start(ctx, name, p.internalStart...)
	if len(attrs) > 0 {
		span.SetAttributes(attrs...)
	}
	return ctx, Span{span: span}
}

// QueryObserver receives a store query's duration (the metrics package's
// db_query_duration_seconds).
type QueryObserver interface {
	ObserveQuery(operation, table string, d time.Duration)
}

// TimeQuery runs fn, one query of a store of the given db.system, as a
// child span of the request's (when tracing is on and the request is
// sampled) and times it into obs (when set): the one place both stores
// time and trace their queries, with the same operation and table labels.
func (p *Provider) TimeQuery(ctx context.Context, system string, obs QueryObserver, operation, table string, fn func() error) error {
	_, span := p.StartQuery(ctx, system, operation, table)
	if obs == nil {
		err := fn()
		span.End(err)
		return err
	}
	start := time.Now()
	err := fn()
	obs.ObserveQuery(operation, table, time.Since(start))
	span.End(err)
	return err
}
