package readmodeltest

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/attune-go/attune/adapters/postgres/pgtest"
)

// Tx is one transaction a Trace saw committed: its statements, in order, with their
// arguments (a statement sent in a pipelined batch counts as one).
type Tx struct {
	Statements []Statement
}

// Statement is one SQL statement and its arguments.
type Statement struct {
	SQL  string
	Args []any
}

// Trace counts what a pool sends to PostgreSQL: every statement, and the statements of
// each transaction, per connection (a connection serves one caller at a time).
type Trace struct {
	mu         sync.Mutex
	statements int
	open       map[*pgx.Conn][]Statement
	committed  []Tx
}

// Counts returns the statements sent and the transactions committed so far.
func (tr *Trace) Counts() (statements, transactions int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.statements, len(tr.committed)
}

// Committed returns the transactions committed so far.
func (tr *Trace) Committed() []Tx {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([]Tx(nil), tr.committed...)
}

// TracedPool opens a pool on schema (a pgtest schema's name) whose statements tr records,
// closed when the test ends.
func TracedPool(t testing.TB, schema string, size int) (*pgxpool.Pool, *Trace) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.WithPoolSize(pgtest.URL(), size))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.ConnConfig.RuntimeParams["application_name"] = pgtest.AppName
	tr := &Trace{open: map[*pgx.Conn][]Statement{}}
	cfg.ConnConfig.Tracer = tr
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool, tr
}

func (tr *Trace) record(conn *pgx.Conn, sql string, args []any) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.statements++
	switch strings.ToLower(strings.TrimSpace(sql)) {
	case "begin":
		tr.open[conn] = []Statement{}
	case "commit":
		if stmts, ok := tr.open[conn]; ok {
			tr.committed = append(tr.committed, Tx{Statements: stmts})
		}
		delete(tr.open, conn)
	case "rollback":
		delete(tr.open, conn)
	default:
		if stmts, ok := tr.open[conn]; ok {
			tr.open[conn] = append(stmts, Statement{SQL: sql, Args: args})
		}
	}
}

// TraceQueryStart implements pgx.QueryTracer.
func (tr *Trace) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	tr.record(conn, data.SQL, data.Args)
	return ctx
}

// TraceQueryEnd implements pgx.QueryTracer.
func (tr *Trace) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TraceBatchStart implements pgx.BatchTracer.
func (tr *Trace) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

// TraceBatchQuery implements pgx.BatchTracer.
func (tr *Trace) TraceBatchQuery(_ context.Context, conn *pgx.Conn, data pgx.TraceBatchQueryData) {
	tr.record(conn, data.SQL, data.Args)
}

// TraceBatchEnd implements pgx.BatchTracer.
func (tr *Trace) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}
