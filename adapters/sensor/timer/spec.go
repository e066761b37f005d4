// Package timer runs the engine's timers: core.intervaltimer, core.crontimer and
// core.datetimer, one per enabled rule that uses them, with that rule's trigger_params. Each
// tick is an EventFired whose id derives from (rule, tick) and is appended with NoStream, so a
// tick fires once however many engines run the timer and however often they restart.
package timer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // a timezone valid on one host is valid on every host the timer may run on

	"github.com/robfig/cron/v3"
)

// The refs of the timer triggers of the core pack.
const (
	IntervalTrigger = "core.intervaltimer"
	CronTrigger     = "core.crontimer"
	DateTrigger     = "core.datetimer"
)

// IsTimer reports whether trigger is one of the timer triggers the engine runs.
func IsTimer(trigger string) bool {
	switch trigger {
	case IntervalTrigger, CronTrigger, DateTrigger:
		return true
	}
	return false
}

// Spec is a parsed schedule.
type Spec interface {
	// Next returns the first tick strictly after t, or false when there is none left.
	Next(t time.Time) (time.Time, bool)
	// First returns the tick to wait for when the timer starts at now. It is Next(now) for
	// recurring timers; a one-shot timer returns its date even when it has passed, so a date
	// that went by while no engine ran still fires (its deterministic id stops a second time).
	First(now time.Time) (time.Time, bool)
	// Params is the normalised trigger_params (defaults filled in), the payload's "schedule".
	Params() map[string]any
}

// ParseTimerParams parses and checks a rule's trigger_params for a timer trigger. The pack
// loader calls it too, so a rule that loads is a rule that runs.
func ParseTimerParams(trigger string, raw json.RawMessage) (Spec, error) {
	var (
		s   Spec
		err error
	)
	switch trigger {
	case IntervalTrigger:
		s, err = parseInterval(raw)
	case CronTrigger:
		s, err = parseCron(raw)
	case DateTrigger:
		s, err = parseDate(raw)
	default:
		return nil, fmt.Errorf("%q is not a timer trigger (want %s, %s or %s)", trigger, IntervalTrigger, CronTrigger, DateTrigger)
	}
	if err != nil {
		return nil, fmt.Errorf("%s trigger_params: %w", trigger, err)
	}
	return s, nil
}

// decodeParams decodes strictly: an unknown key is a typo that would otherwise be ignored.
func decodeParams(raw json.RawMessage, into any) error {
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		raw = json.RawMessage(`{}`)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return err
	}
	return nil
}

// Interval fires every Every, at the multiples of Every since the Unix epoch, so every engine
// computes the same ticks whenever it started.
type Interval struct {
	Unit  string
	Delta int64
	Every time.Duration
}

var units = map[string]time.Duration{
	"seconds": time.Second,
	"minutes": time.Minute,
	"hours":   time.Hour,
	"days":    24 * time.Hour,
	"weeks":   7 * 24 * time.Hour,
}

// maxInterval keeps tick arithmetic in nanoseconds far from overflow.
const maxInterval = 10 * 366 * 24 * time.Hour

func parseInterval(raw json.RawMessage) (Interval, error) {
	var p struct {
		Unit  *string `json:"unit"`
		Delta *int64  `json:"delta"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return Interval{}, err
	}
	var errs []error
	if p.Unit == nil {
		errs = append(errs, errors.New("unit is required (seconds, minutes, hours, days or weeks)"))
	} else if _, ok := units[*p.Unit]; !ok {
		errs = append(errs, fmt.Errorf("unknown unit %q (want seconds, minutes, hours, days or weeks)", *p.Unit))
	}
	if p.Delta == nil {
		errs = append(errs, errors.New("delta is required (an integer >= 1)"))
	} else if *p.Delta < 1 {
		errs = append(errs, fmt.Errorf("delta %d: want an integer >= 1", *p.Delta))
	}
	if len(errs) > 0 {
		return Interval{}, errors.Join(errs...)
	}
	unit := units[*p.Unit]
	if *p.Delta > int64(maxInterval/unit) {
		return Interval{}, fmt.Errorf("delta %d %s is longer than ten years", *p.Delta, *p.Unit)
	}
	return Interval{Unit: *p.Unit, Delta: *p.Delta, Every: time.Duration(*p.Delta) * unit}, nil
}

// Next implements Spec.
func (s Interval) Next(t time.Time) (time.Time, bool) {
	every := s.Every.Nanoseconds()
	ns := t.UnixNano()
	n := ns / every
	if ns < 0 && ns%every != 0 {
		n-- // floor, not truncation, before the epoch
	}
	return time.Unix(0, (n+1)*every).UTC(), true
}

// First implements Spec.
func (s Interval) First(now time.Time) (time.Time, bool) { return s.Next(now) }

// Params implements Spec.
func (s Interval) Params() map[string]any { return map[string]any{"unit": s.Unit, "delta": s.Delta} }

// Cron fires on a six-field cron schedule (seconds first) read in Location.
type Cron struct {
	Expression string
	Location   *time.Location
	schedule   *cron.SpecSchedule
}

// cronParser reads core.crontimer expressions: exactly six fields, seconds first, no
// descriptors (the pack loader's options, so both accept the same expressions).
var cronParser = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// cronProbe is where a schedule is checked for a next tick: cron gives up after five years,
// which covers every date a valid expression can name (29 February included).
var cronProbe = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func parseCron(raw json.RawMessage) (Cron, error) {
	var p struct {
		Expression *string `json:"expression"`
		Timezone   *string `json:"timezone"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return Cron{}, err
	}
	if p.Expression == nil {
		return Cron{}, errors.New(`expression is required (6 fields, seconds first, like "*/5 * * * * *")`)
	}
	expr := *p.Expression
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return Cron{}, fmt.Errorf("bad cron expression %q: set the timezone with the timezone parameter, not a TZ= prefix", expr)
	}
	sched, err := cronParser.Parse(expr)
	if err != nil {
		return Cron{}, fmt.Errorf(`bad cron expression %q (want 6 fields, seconds first, like "*/5 * * * * *"): %w`, expr, err)
	}
	spec, ok := sched.(*cron.SpecSchedule)
	if !ok {
		return Cron{}, fmt.Errorf("bad cron expression %q: not a field schedule", expr)
	}
	loc := time.UTC
	if p.Timezone != nil {
		tz := *p.Timezone
		// "" and "Local" load, but would mean the clock of whichever host runs the timer.
		if loc, err = time.LoadLocation(tz); err != nil || tz == "" || tz == "Local" {
			return Cron{}, fmt.Errorf("unknown timezone %q (want an IANA name like UTC or Europe/Paris)", tz)
		}
	}
	spec.Location = loc
	if spec.Next(cronProbe).IsZero() {
		return Cron{}, fmt.Errorf("bad cron expression %q: it never fires", expr)
	}
	return Cron{Expression: expr, Location: loc, schedule: spec}, nil
}

// Next implements Spec.
func (s Cron) Next(t time.Time) (time.Time, bool) {
	n := s.schedule.Next(t)
	return n.UTC(), !n.IsZero()
}

// First implements Spec.
func (s Cron) First(now time.Time) (time.Time, bool) { return s.Next(now) }

// Params implements Spec.
func (s Cron) Params() map[string]any {
	return map[string]any{"expression": s.Expression, "timezone": s.Location.String()}
}

// Date fires once, at At.
type Date struct {
	At time.Time
}

func parseDate(raw json.RawMessage) (Date, error) {
	var p struct {
		Date *string `json:"date"`
	}
	if err := decodeParams(raw, &p); err != nil {
		return Date{}, err
	}
	if p.Date == nil {
		return Date{}, errors.New("date is required (RFC 3339 with an offset, like 2026-12-01T09:00:00Z)")
	}
	at, err := time.Parse(time.RFC3339, *p.Date)
	if err != nil {
		return Date{}, fmt.Errorf("bad date %q: want RFC 3339 with an offset, like 2026-12-01T09:00:00Z", *p.Date)
	}
	return Date{At: at.UTC()}, nil
}

// Next implements Spec.
func (s Date) Next(t time.Time) (time.Time, bool) {
	if s.At.After(t) {
		return s.At, true
	}
	return time.Time{}, false
}

// First implements Spec.
func (s Date) First(time.Time) (time.Time, bool) { return s.At, true }

// Params implements Spec.
func (s Date) Params() map[string]any { return map[string]any{"date": s.At.Format(time.RFC3339Nano)} }
