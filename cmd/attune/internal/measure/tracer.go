package measure

import (
	"context"
	"regexp"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
)

// Tracer counts the statements and transactions of every connection made from a pool
// config it is set on (pgx.ConnConfig.Tracer: copies of the config — the lock session, the
// LISTEN session — keep it). pg_stat_statements would count on the server, but it needs
// shared_preload_libraries and a restart of a server other work shares; this needs nothing.
//
// A statement is a query, an Exec, a query of a batch or a COPY; BEGIN, COMMIT and ROLLBACK
// are not statements but delimit transactions. A transaction is an explicit one that
// committed, a batch sent outside one, or a statement run outside both (autocommit). A write transaction holds a
// statement that names INSERT, UPDATE, DELETE or MERGE (SELECT … FOR UPDATE included: it
// locks rows, so it takes a transaction id too) or a COPY.
type Tracer struct {
	mu     sync.Mutex
	open   map[*pgx.Conn]bool // connections inside an explicit transaction → wrote yet
	batch  map[*pgx.Conn]bool // connections sending a batch outside one → wrote yet
	counts Counts
}

// Counts is what a Tracer counted.
type Counts struct {
	Statements        int64
	Transactions      int64
	WriteTransactions int64
	Rollbacks         int64
}

// Sub returns c - o.
func (c Counts) Sub(o Counts) Counts {
	return Counts{c.Statements - o.Statements, c.Transactions - o.Transactions,
		c.WriteTransactions - o.WriteTransactions, c.Rollbacks - o.Rollbacks}
}

var (
	_ pgx.QueryTracer    = (*Tracer)(nil)
	_ pgx.BatchTracer    = (*Tracer)(nil)
	_ pgx.CopyFromTracer = (*Tracer)(nil)
)

// NewTracer returns a tracer with nothing counted.
func NewTracer() *Tracer { return &Tracer{open: map[*pgx.Conn]bool{}, batch: map[*pgx.Conn]bool{}} }

// Counts returns the counts so far.
func (t *Tracer) Counts() Counts {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.counts
}

var writes = regexp.MustCompile(`(?i)\b(insert|update|delete|merge)\b`)

// isWrite is writes.MatchString remembered by statement text: a server sends a few hundred
// distinct statements, and the regexp on each one was ~3% of the benchmark's CPU, counted in
// what it measures (cpu_ms/exec).
func isWrite(sql string) bool {
	if w, ok := writeMemo.Load(sql); ok {
		return w.(bool)
	}
	w := writes.MatchString(sql)
	writeMemo.Store(sql, w)
	return w
}

var writeMemo sync.Map // statement text → isWrite

// TraceQueryStart implements pgx.QueryTracer.
func (t *Tracer) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	t.statement(conn, data.SQL)
	return ctx
}

// TraceQueryEnd implements pgx.QueryTracer.
func (t *Tracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TraceBatchStart implements pgx.BatchTracer. A batch outside a transaction is one implicit
// transaction (pgx sends it with one Sync).
func (t *Tracer) TraceBatchStart(ctx context.Context, conn *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, inTx := t.open[conn]; !inTx {
		t.batch[conn] = false
	}
	return ctx
}

// TraceBatchQuery implements pgx.BatchTracer.
func (t *Tracer) TraceBatchQuery(_ context.Context, conn *pgx.Conn, data pgx.TraceBatchQueryData) {
	t.statement(conn, data.SQL)
}

// TraceBatchEnd implements pgx.BatchTracer.
func (t *Tracer) TraceBatchEnd(_ context.Context, conn *pgx.Conn, data pgx.TraceBatchEndData) {
	t.mu.Lock()
	defer t.mu.Unlock()
	wrote, ok := t.batch[conn]
	if !ok {
		return
	}
	delete(t.batch, conn)
	if data.Err != nil {
		t.counts.Rollbacks++
		return
	}
	t.counts.Transactions++
	if wrote {
		t.counts.WriteTransactions++
	}
}

// TraceCopyFromStart implements pgx.CopyFromTracer.
func (t *Tracer) TraceCopyFromStart(ctx context.Context, conn *pgx.Conn, _ pgx.TraceCopyFromStartData) context.Context {
	t.statement(conn, "COPY … FROM STDIN (insert)")
	return ctx
}

// TraceCopyFromEnd implements pgx.CopyFromTracer.
func (t *Tracer) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {}

func (t *Tracer) statement(conn *pgx.Conn, sql string) {
	word := firstWord(sql)
	write := isWrite(sql)
	t.mu.Lock()
	defer t.mu.Unlock()
	wrote, inTx := t.open[conn]
	switch word {
	case "begin", "start":
		t.open[conn] = false
		return
	case "commit", "end":
		if inTx {
			delete(t.open, conn)
			t.counts.Transactions++
			if wrote {
				t.counts.WriteTransactions++
			}
		}
		return
	case "savepoint", "release":
		return
	case "rollback", "abort":
		if inTx {
			delete(t.open, conn)
			t.counts.Rollbacks++
		}
		return
	}
	t.counts.Statements++
	batchWrote, inBatch := t.batch[conn]
	switch {
	case inTx:
		t.open[conn] = wrote || write
	case inBatch:
		t.batch[conn] = batchWrote || write
	default:
		t.counts.Transactions++
		if write {
			t.counts.WriteTransactions++
		}
	}
}

// firstWord is the statement's first keyword, lower case, past blanks and -- comments.
func firstWord(sql string) string {
	s := strings.TrimSpace(sql)
	for strings.HasPrefix(s, "--") {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			return ""
		}
		s = strings.TrimSpace(s[i+1:])
	}
	end := strings.IndexFunc(s, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') })
	if end >= 0 {
		s = s[:end]
	}
	return strings.ToLower(s)
}
