package handlers

import (
	"context"
	"errors"
	"time"

	"github.com/rs/zerolog"

	"github.com/riptides/driverbuild/store"
)

// AuditFlushEvery bounds how long a build request's audit row waits in
// memory after its answer before it is written with those around it: a
// crash loses at most the last AuditFlushEvery of rows (and one batch being
// written). A shutdown writes them all, trying again while the database
// is away until its deadline, and logs what it could not write.
const AuditFlushEvery = 100 * time.Millisecond

// auditPending bounds the rows waiting: past it, a request waits for room
// rather than a row being dropped.
const auditPending = 10_000

// AuditLog writes audit rows in batches, one transaction per
// AuditFlushEvery, instead of one write per request before its answer:
// on the hot path that write was most of a cached answer's cost.
type AuditLog struct {
	st interface {
		RequestsRecord(context.Context, []store.Request) error
	}
	log  zerolog.Logger
	rows chan store.Request
	stop chan context.Context // Close's, whose end ends the last writes
	done chan struct{}
}

// NewAuditLog starts writing batches to st; Close flushes and stops.
func NewAuditLog(st interface {
	RequestsRecord(context.Context, []store.Request) error
}, log zerolog.Logger) *AuditLog {
	l := &AuditLog{st: st, log: log, rows: make(chan store.Request, auditPending), stop: make(chan context.Context, 1), done: make(chan struct{})}
	go l.run()
	return l
}

// RequestRecord queues a row.
func (l *AuditLog) RequestRecord(ctx context.Context, r store.Request) error {
	select {
	case l.rows <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *AuditLog) run() {
	defer close(l.done)
	var batch []store.Request
	tick := time.NewTicker(AuditFlushEvery)
	defer tick.Stop()
	for {
		select {
		case r := <-l.rows:
			batch = append(batch, r)
		case <-tick.C:
			batch = l.write(context.Background(), batch)
		case ctx := <-l.stop:
			l.drain(ctx, batch)
			return
		}
	}
}

// drainRetry is the wait between a shutdown's tries of a database that
// is away.
const drainRetry = 500 * time.Millisecond

// drain writes batch and the rows queued, until they are written or ctx
// ends.
func (l *AuditLog) drain(ctx context.Context, batch []store.Request) {
	for {
		select {
		case r := <-l.rows:
			batch = append(batch, r)
			continue
		default:
		}
		if batch = l.write(ctx, batch); len(batch) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			l.log.Error().Int("rows", len(batch)).Msg("audit rows not written by the shutdown deadline: lost")
			return
		case <-time.After(drainRetry):
		}
	}
}

// write stores a batch and returns the slice to reuse: empty, or the
// batch itself when the database could not take it for now (it went away,
// or was too slow), to be written with the next one. A batch it refused
// outright is not kept, or one bad row would cost every later one; nor
// are more than auditPending rows, the oldest going first.
func (l *AuditLog) write(ctx context.Context, batch []store.Request) []store.Request {
	if len(batch) == 0 {
		return batch
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := l.st.RequestsRecord(ctx, batch)
	if err == nil {
		return batch[:0]
	}
	if !errors.Is(err, store.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		l.log.Error().Err(err).Int("rows", len(batch)).Msg("record build requests")
		return batch[:0]
	}
	if over := len(batch) - auditPending; over > 0 {
		l.log.Error().Err(err).Int("rows", over).Msg("record build requests: the oldest rows dropped")
		batch = append(batch[:0], batch[over:]...)
	}
	l.log.Warn().Err(err).Int("rows", len(batch)).Msg("record build requests; kept to try again")
	return batch
}

// Close writes what is queued and stops, by ctx's end: then what is not
// written is logged and lost. Requests must have stopped.
func (l *AuditLog) Close(ctx context.Context) error {
	l.stop <- ctx
	<-l.done
	return ctx.Err()
}
