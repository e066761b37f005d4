package process

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/outage"
	"github.com/attune-go/attune/adapters/pgstore"
	"github.com/attune-go/attune/adapters/safetext"
	"github.com/attune-go/attune/adapters/sensor"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/domain/trigger"
)

// appendTimeout bounds one event's append. Appends do not use the supervisor's context: what
// a sensor printed before it was told to stop is still recorded.
const appendTimeout = 30 * time.Second

// line is one event as a sensor prints it.
type line struct {
	Trigger    string          `json:"trigger"`
	Payload    json.RawMessage `json:"payload"`
	OccurredAt *time.Time      `json:"occurred_at"` // optional: when the sensor saw it
	// TraceTag, optional, labels the event and all it causes (executions list it).
	TraceTag string `json:"trace_tag"`
	// Rule, optional, makes the event for that rule alone: one of the sensor's Instances.
	Rule string `json:"rule"`
}

// maxTraceTag bounds a trace tag, which every event the sensor's event causes carries.
const maxTraceTag = 256

// errSkip marks a line that is the sensor's fault: logged and skipped, the sensor goes on.
var errSkip = errors.New("line skipped")

// readEvents reads stdout line by line until EOF and records each valid line.
func (s *Supervisor) readEvents(ctx context.Context, sn Sensor, r io.Reader, log *slog.Logger) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		raw, tooLong, err := readLine(br, s.cfg.MaxLine)
		if len(raw) > 0 || tooLong {
			if tooLong {
				log.Warn("sensor line skipped", slog.String("reason", fmt.Sprintf("longer than %d bytes", s.cfg.MaxLine)))
			} else if id, ferr := s.fire(ctx, sn, raw); errors.Is(ferr, errSkip) {
				log.Warn("sensor line skipped", slog.String("reason", ferr.Error()), slog.String("line", excerpt(raw)))
			} else if ferr != nil {
				log.Error("sensor event not recorded", slog.Any("error", ferr), slog.String("line", excerpt(raw)))
			} else {
				log.Debug("sensor event fired", slog.String("event_id", id))
			}
		}
		if err != nil {
			return // EOF, or the pipe closed under us
		}
	}
}

// readLine returns the next line without its newline. A line longer than max is consumed
// and reported as tooLong instead of returned.
func readLine(br *bufio.Reader, max int) (raw []byte, tooLong bool, err error) {
	var buf []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		if !tooLong {
			buf = append(buf, chunk...)
			if len(buf) > max {
				buf, tooLong = nil, true
			}
		}
		if err != nil || !isPrefix {
			return bytes.TrimSpace(buf), tooLong, err
		}
	}
}

// fire checks one line and records it.
func (s *Supervisor) fire(ctx context.Context, sn Sensor, raw []byte) (string, error) {
	var l line
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return "", fmt.Errorf("%w: not a JSON event line {\"trigger\": ..., \"payload\": {...}}: %v", errSkip, err)
	}
	if l.Trigger == "" {
		return "", fmt.Errorf("%w: no trigger", errSkip)
	}
	if !slices.Contains(sn.Sensor.Triggers, l.Trigger) {
		return "", fmt.Errorf("%w: trigger %s is not one the sensor declares (%v)", errSkip, l.Trigger, sn.Sensor.Triggers)
	}
	if l.Rule != "" && !slices.ContainsFunc(sn.Instances, func(in Instance) bool { return in.Rule == l.Rule && in.Trigger == l.Trigger }) {
		return "", fmt.Errorf("%w: rule %s does not pass parameters to this sensor's trigger %s", errSkip, l.Rule, l.Trigger)
	}
	if len(l.TraceTag) > maxTraceTag {
		return "", fmt.Errorf("%w: trace_tag longer than %d bytes", errSkip, maxTraceTag)
	}
	if bad := safetext.JSON(toJSONString(l.TraceTag), "/trace_tag", nil); bad != nil {
		return "", fmt.Errorf("%w: %v", errSkip, bad)
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), appendTimeout)
	defer cancel()
	t, found, err := s.cfg.Triggers.Trigger(actx, l.Trigger)
	switch {
	case err != nil:
		return "", fmt.Errorf("look up trigger %s: %w", l.Trigger, err)
	case !found:
		return "", fmt.Errorf("%w: trigger %s is not registered", errSkip, l.Trigger)
	case t.Type == pack.TriggerTimer:
		// Timer events belong to one rule each; only the engine's timers fire them.
		return "", fmt.Errorf("%w: trigger %s is a timer trigger", errSkip, l.Trigger)
	}
	payload := l.Payload
	if len(payload) == 0 || string(payload) == "null" {
		payload = json.RawMessage(`{}`)
	}
	obj, err := sensor.DecodeObject(payload)
	if err != nil {
		return "", fmt.Errorf("%w: payload: %v", errSkip, err)
	}
	if err := sensor.ValidatePayload(t.PayloadSchema, obj); err != nil {
		return "", fmt.Errorf("%w: %v", errSkip, err)
	}
	// A NUL or invalid UTF-8 would be refused by the log's guard anyway: skip the line
	// with the field named, like every other bad line.
	if bad := safetext.JSON(payload, "/payload", nil); bad != nil {
		return "", fmt.Errorf("%w: %v", errSkip, bad)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, payload); err != nil {
		return "", fmt.Errorf("%w: payload: %v", errSkip, err)
	}
	e := trigger.EventFired{
		EventID: ulid.Make().String(),
		Trigger: l.Trigger,
		Payload: compact.Bytes(),
		Source:  trigger.Sensor,
		Sensor:  sn.Sensor.Ref,
		Rule:    l.Rule,
	}
	if l.OccurredAt != nil {
		e.OccurredAt = l.OccurredAt.UTC()
	}
	// The database away for a moment must not lose what the sensor saw: retry within the
	// append's time bound (the sensor's output waits meanwhile). A retry that finds the event
	// recorded (its first attempt committed, the answer was lost) is done.
	var wait outage.Backoff
	for retried := false; ; retried = true {
		err := sensor.FireTagged(actx, s.cfg.Store, e, Actor, l.TraceTag)
		switch {
		case err == nil, retried && errors.Is(err, eventstore.ErrVersionConflict):
			return e.EventID, nil
		case !pgstore.IsTransient(err) || !wait.Wait(actx):
			return "", err
		}
	}
}

func toJSONString(s string) []byte {
	b, _ := json.Marshal(s) // a string always encodes
	return b
}

// excerpt keeps log lines short whatever a sensor prints.
func excerpt(raw []byte) string {
	const max = 200
	if len(raw) <= max {
		return string(raw)
	}
	return string(raw[:max]) + "…"
}
