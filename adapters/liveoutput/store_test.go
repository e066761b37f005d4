package liveoutput

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/postgres/pgtest"
	"github.com/attune-go/attune/adapters/runtime"
)

func count(t *testing.T, s *pgtest.Schema, table string) int {
	t.Helper()
	var n int
	if err := s.Pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func readAll(t *testing.T, st *Store, id string) []Chunk {
	t.Helper()
	chunks, err := st.Read(context.Background(), id, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	return chunks
}

// Many small writes go in a few batched chunks, in order, streams apart, and each stream
// stops at its cap.
func TestWriterBatchesInOrderAndCapsEachStream(t *testing.T) {
	db := pgtest.New(t)
	st := New(db.Pool)
	w := st.Writer("x1", WriterConfig{FlushEvery: time.Hour, FlushBytes: 1 << 10, MaxBytes: 3000})
	var want strings.Builder
	for i := range 400 {
		line := fmt.Sprintf("line %03d\n", i) // 9 bytes: 3600 in all, over the cap
		w.Output(runtime.Stdout, []byte(line))
		if want.Len()+len(line) <= 3000 {
			want.WriteString(line)
		} else if want.Len() < 3000 {
			want.WriteString(line[:3000-want.Len()])
		}
	}
	w.Output(runtime.Stderr, []byte("oops\n"))
	w.Close(context.Background())

	chunks := readAll(t, st, "x1")
	var out, errs strings.Builder
	for i, c := range chunks {
		if c.Seq != int64(i+1) {
			t.Fatalf("chunk %d has seq %d, want %d", i, c.Seq, i+1)
		}
		if c.Stream == runtime.Stdout {
			out.WriteString(c.Data)
		} else {
			errs.WriteString(c.Data)
		}
	}
	if out.String() != want.String() || errs.String() != "oops\n" {
		t.Fatalf("stdout %d bytes (want %d, the cap), stderr %q", out.Len(), want.Len(), errs.String())
	}
	// 3000 bytes at 1 KiB a chunk: 3 or 4 chunks of stdout, not 334 lines.
	if len(chunks) > 6 {
		t.Fatalf("%d chunks for 400 lines: the writer did not batch", len(chunks))
	}
}

// A second run of an execution (placed again after its worker died) continues the seqs, and
// the sweep deletes the chunks of ended runs after the TTL only, and any chunk past MaxAge.
func TestSweepDeletesEndedRunsAfterTheTTL(t *testing.T) {
	db := pgtest.New(t)
	st := New(db.Pool)
	ctx := context.Background()
	for _, run := range []string{"first", "second"} {
		w := st.Writer("ended", WriterConfig{})
		w.Output(runtime.Stdout, []byte(run+"\n"))
		w.Close(ctx)
	}
	if chunks := readAll(t, st, "ended"); len(chunks) != 2 || chunks[1].Seq != 2 || chunks[1].Data != "second\n" {
		t.Fatalf("two runs wrote %+v, want seqs 1 and 2", chunks)
	}
	running := st.Writer("running", WriterConfig{FlushEvery: 10 * time.Millisecond})
	defer running.Close(ctx)
	running.Output(runtime.Stdout, []byte("still going\n"))
	deadline := time.Now().Add(10 * time.Second)
	for len(readAll(t, st, "running")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the running writer wrote nothing within 10s of its 10ms flush period")
		}
		time.Sleep(10 * time.Millisecond)
	}

	if n, err := st.Sweep(ctx, time.Hour, DefaultMaxAge); err != nil || n != 0 {
		t.Fatalf("sweep within the TTL deleted %d (%v), want 0", n, err)
	}
	if n, err := st.Sweep(ctx, 0, DefaultMaxAge); err != nil || n != 2 {
		t.Fatalf("sweep past the TTL deleted %d (%v), want the 2 chunks of the ended run", n, err)
	}
	if len(readAll(t, st, "ended")) != 0 || len(readAll(t, st, "running")) != 1 || count(t, db, "execution_output_ends") != 0 {
		t.Fatal("the sweep left the ended run's chunks, or took the running one's")
	}
	if n, err := st.Sweep(ctx, time.Hour, 0); err != nil || n != 1 || count(t, db, "execution_output") != 0 {
		t.Fatalf("sweep past MaxAge deleted %d (%v), want the running run's chunk: the table empty", n, err)
	}
}
