package liveoutput

import (
	"cmp"
	"context"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/attune-go/attune/adapters/runtime"
)

// Defaults of WriterConfig.
const (
	DefaultFlushEvery = 200 * time.Millisecond
	DefaultFlushBytes = 16 << 10
	DefaultMaxBytes   = 1 << 20 // the process runtimes' cap on the final output
)

// WriterConfig bounds a Writer.
type WriterConfig struct {
	// FlushEvery is the longest output waits before it is written; FlushBytes writes sooner
	// once that much is waiting. One INSERT per batch, never one per line.
	FlushEvery time.Duration
	FlushBytes int
	// MaxBytes caps each stream of the execution; the rest is dropped (the final output in
	// the log has the same cap and says whether it was truncated).
	MaxBytes int
	Logger   *slog.Logger
}

// Writer writes one run's output to the store in batches. It is a runtime.OutputSink: give
// it to runtime.Request.Output, and Close it once the run has returned, before its outcome
// is reported, so that a reader who sees the execution terminal finds every chunk written.
// A batch the store refuses is dropped with a warning: the live output is a convenience,
// the log has the final output.
type Writer struct {
	store       *Store
	executionID string
	cfg         WriterConfig
	log         *slog.Logger

	mu      sync.Mutex
	pending []Chunk
	size    int
	written map[string]int // bytes taken per stream, against MaxBytes
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	next    int64 // seq of the next chunk; 0 until read from the store
}

var _ runtime.OutputSink = (*Writer)(nil)

// Writer starts a writer for the run of executionID.
func (s *Store) Writer(executionID string, cfg WriterConfig) *Writer {
	cfg.FlushEvery = cmp.Or(cfg.FlushEvery, DefaultFlushEvery)
	cfg.FlushBytes = cmp.Or(cfg.FlushBytes, DefaultFlushBytes)
	cfg.MaxBytes = cmp.Or(cfg.MaxBytes, DefaultMaxBytes)
	w := &Writer{
		store: s, executionID: executionID, cfg: cfg, log: cmp.Or(cfg.Logger, slog.Default()),
		written: map[string]int{}, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go w.loop()
	return w
}

// Output takes a piece of a stream; it never blocks on the store.
func (w *Writer) Output(stream string, p []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	room := w.cfg.MaxBytes - w.written[stream]
	if room <= 0 || len(p) == 0 {
		return
	}
	if len(p) > room {
		p = p[:room]
		for i := 0; i < utf8.UTFMax-1 && len(p) > 0 && !utf8.Valid(p); i++ {
			p = p[:len(p)-1] // do not cut a rune in two at the cap
		}
	}
	w.written[stream] += len(p)
	if n := len(w.pending); n > 0 && w.pending[n-1].Stream == stream && len(w.pending[n-1].Data)+len(p) <= w.cfg.FlushBytes {
		w.pending[n-1].Data += string(p) // pieces of one stream in a row make one chunk
	} else {
		w.pending = append(w.pending, Chunk{Stream: stream, Data: string(p), At: time.Now()})
	}
	w.size += len(p)
	if w.size >= w.cfg.FlushBytes {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
}

func (w *Writer) loop() {
	defer close(w.done)
	t := time.NewTicker(w.cfg.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		case <-w.kick:
		}
		w.flush(context.Background())
	}
}

// flush writes what is pending, in one statement.
func (w *Writer) flush(ctx context.Context) {
	w.mu.Lock()
	batch := w.pending
	w.pending, w.size = nil, 0
	w.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if w.next == 0 {
		last, err := w.store.lastSeq(ctx, w.executionID)
		if err != nil {
			w.log.Warn("live output: a batch is dropped", "execution_id", w.executionID, "error", err.Error())
			return
		}
		w.next = last + 1
	}
	for i := range batch {
		batch[i].Seq = w.next
		w.next++
	}
	if err := w.store.append(ctx, w.executionID, batch); err != nil {
		w.log.Warn("live output: a batch is dropped", "execution_id", w.executionID, "chunks", len(batch), "error", err.Error())
	}
}

// Close writes what is left and records that the run's output has ended, which starts its
// TTL. Call it once, after the run returned.
func (w *Writer) Close(ctx context.Context) {
	close(w.stop)
	<-w.done
	w.flush(ctx)
	if err := w.store.ended(ctx, w.executionID); err != nil {
		w.log.Warn("live output: end not recorded; the chunks go at the sweep's MaxAge", "execution_id", w.executionID, "error", err.Error())
	}
}
