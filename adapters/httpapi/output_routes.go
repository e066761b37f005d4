package httpapi

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/projections/executions"
)

// OutputChunk is one piece of an execution's live output (adapters/liveoutput): Seq orders
// them within the execution and is the SSE id a client resumes after.
type OutputChunk struct {
	Seq    int64     `json:"seq"`
	Stream string    `json:"stream"`
	Data   string    `json:"data"`
	At     time.Time `json:"at"`
}

// OutputPage is the JSON form of GET /api/v1/executions/{id}/output: the chunks after the
// cursor, the cursor to ask with next, and whether the execution is over and nothing follows.
type OutputPage struct {
	Chunks []OutputChunk    `json:"chunks"`
	After  int64            `json:"after"`
	Status execution.Status `json:"status"`
	Done   bool             `json:"done"`
}

// OutputEnd is the data of the stream's last event, end: the execution is terminal and every
// chunk has been sent.
type OutputEnd struct {
	Status          execution.Status `json:"status"`
	ExitCode        *int             `json:"exit_code"`
	Reason          string           `json:"reason,omitempty"`
	OutputTruncated bool             `json:"output_truncated"`
}

const (
	// outputPoll is how often an output stream looks for new chunks while there are none;
	// the worker writes them every 200 ms at most.
	outputPoll = 200 * time.Millisecond
	outputPage = 500
)

func (s *Server) registerOutputRoutes() {
	s.handle("GET /api/v1/executions/{id}/output", s.cfg.ReadOutput != nil && s.cfg.GetExecution != nil, s.executionOutput)
}

// outputAfter is the cursor a request resumes after: Last-Event-ID (an EventSource
// reconnecting), else ?after, else 0.
func outputAfter(r *http.Request) (int64, error) {
	for _, src := range []struct{ field, value string }{
		{"Last-Event-ID", r.Header.Get("Last-Event-ID")},
		{"after", r.URL.Query().Get("after")},
	} {
		if src.value == "" {
			continue
		}
		n, err := strconv.ParseInt(src.value, 10, 64)
		if err != nil || n < 0 {
			return 0, badRequest(src.field, "%s %q: want a chunk's seq, a whole number >= 0", src.field, src.value)
		}
		return n, nil
	}
	return 0, nil
}

// executionOutput serves GET /api/v1/executions/{id}/output: as Server-Sent Events (one
// output event per chunk, its seq as id, then end with the final status), or as one JSON
// page when the client accepts application/json and not text/event-stream.
func (s *Server) executionOutput(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	after, err := outputAfter(r)
	if err != nil {
		return err
	}
	x, err := s.cfg.GetExecution(r.Context(), id)
	if errors.Is(err, executions.ErrNotFound) {
		return notFound("execution", id)
	}
	if err != nil {
		return err
	}
	accept := r.Header.Get("Accept")
	if strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/event-stream") {
		return s.outputPage(w, r, x, after)
	}
	return s.outputStream(w, r, id, after)
}

func (s *Server) outputPage(w http.ResponseWriter, r *http.Request, x executions.Execution, after int64) error {
	terminal := x.Status.Terminal() // read before the chunks: a terminal execution has written all of them
	chunks, err := s.cfg.ReadOutput(r.Context(), x.ID, after, outputPage)
	if err != nil {
		return err
	}
	if chunks == nil {
		chunks = []OutputChunk{}
	}
	page := OutputPage{Chunks: chunks, After: after, Status: x.Status}
	if n := len(chunks); n > 0 {
		page.After = chunks[n-1].Seq
	}
	page.Done = terminal && len(chunks) < outputPage
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (s *Server) outputStream(w http.ResponseWriter, r *http.Request, id string, after int64) error {
	if !canFlush(w) {
		return errors.New("output stream: the response writer cannot flush (a wrapping middleware lacks Flush or Unwrap)")
	}
	release, err := s.streams.acquire(streamCaller(r))
	if err != nil {
		w.Header().Set("Retry-After", "5")
		return err
	}
	defer release()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	out := &sseWriter{w: w, rc: http.NewResponseController(w)}
	fmt.Fprintf(&out.buf, ": attune output stream\nretry: %d\n\n", streamRetry.Milliseconds())
	if out.flush() != nil {
		return nil
	}
	ctx := r.Context()
	poll := time.NewTimer(0)
	defer poll.Stop()
	heartbeat := time.NewTicker(cmp.Or(s.cfg.StreamHeartbeat, defaultHeartbeat))
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.cfg.Stopping:
			return nil // the client resumes from its last seq, at this server's successor
		case <-heartbeat.C:
			out.buf.WriteString(": heartbeat\n\n")
			if out.flush() != nil {
				return nil
			}
			continue
		case <-poll.C:
		}
		end, more, err := s.outputStep(ctx, out, id, &after)
		if err != nil {
			if ctx.Err() == nil {
				s.log.ErrorContext(ctx, "output stream failed", "execution_id", id, "error", err)
			}
			return nil // the client reconnects and resumes
		}
		if end {
			return nil
		}
		if more {
			poll.Reset(0)
		} else {
			poll.Reset(outputPoll)
		}
	}
}

// outputStep sends the chunks after *after; when there were none and the execution is
// terminal (read first, so no chunk can follow), it sends end. more says a full page came.
func (s *Server) outputStep(ctx context.Context, out *sseWriter, id string, after *int64) (end, more bool, err error) {
	chunks, err := s.cfg.ReadOutput(ctx, id, *after, outputPage)
	if err != nil {
		return false, false, err
	}
	if len(chunks) == 0 {
		x, err := s.cfg.GetExecution(ctx, id)
		if err != nil {
			return false, false, err
		}
		if !x.Status.Terminal() {
			return false, false, nil
		}
		// Terminal: the worker wrote its last chunk before reporting. Read once more, for
		// chunks written between the first read and the status.
		if chunks, err = s.cfg.ReadOutput(ctx, id, *after, outputPage); err != nil {
			return false, false, err
		}
		if len(chunks) == 0 {
			data, _ := json.Marshal(OutputEnd{Status: x.Status, ExitCode: x.ExitCode, Reason: x.Reason, OutputTruncated: x.OutputTruncated})
			fmt.Fprintf(&out.buf, "event: end\ndata: %s\n\n", data)
			return true, false, out.flush()
		}
	}
	for _, c := range chunks {
		data, err := json.Marshal(c)
		if err != nil {
			return false, false, err
		}
		fmt.Fprintf(&out.buf, "id: %d\nevent: output\ndata: %s\n\n", c.Seq, data)
		*after = c.Seq
	}
	return false, len(chunks) == outputPage, out.flush()
}
