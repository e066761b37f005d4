package packloader

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/attune-go/attune/domain/pack"
)

// StackStorm's timers are aliases of Attune's: a rule on core.st2.IntervalTimer is recorded
// on core.intervaltimer with its parameters translated, so the engine runs one kind of timer
// (one tick id per rule and instant, whoever runs it). The payload is the same: executed_at and
// schedule (Attune's parameters: a cron timer's schedule is its six-field expression).
var st2Timers = map[string]string{
	"core.st2.IntervalTimer": "core.intervaltimer",
	"core.st2.CronTimer":     "core.crontimer",
	"core.st2.DateTimer":     "core.datetimer",
}

// St2Webhook is the ref of StackStorm's webhook trigger, served at /api/v1/webhooks/{url}.
const St2Webhook = "core.st2.webhook"

// st2Internal are StackStorm's own core triggers that report on StackStorm itself; Attune
// records the same facts as events of its log, not as triggers. (core.st2.generic.actiontrigger
// is not among them: the core pack declares it, and handlers/generictrigger fires it.)
var st2Internal = []string{
	"core.st2.generic.notifytrigger", "core.st2.action.file_written",
	"core.st2.key_value_pair.create", "core.st2.key_value_pair.update",
	"core.st2.key_value_pair.value_change", "core.st2.key_value_pair.delete",
	"core.st2.sensor.process_spawn", "core.st2.sensor.process_exit",
}

// st2TimerParams translates the parameters of a StackStorm timer into the Attune timer's,
// reporting what cannot be translated at its line. ok is false when something was reported.
func st2TimerParams(f fileProblems, st2Ref string, n *yaml.Node, field string) (map[string]any, bool) {
	before := len(f.errs)
	var out map[string]any
	switch st2Ref {
	case "core.st2.IntervalTimer":
		o := f.object(n, field, "unit", "delta", "timezone")
		out = map[string]any{}
		if u := o.needStr("unit"); u != "" {
			out["unit"] = u
		}
		if d := o.need("delta"); d != nil {
			if v, ok := f.integer(d, o.field("delta"), 1); ok {
				out["delta"] = v
			}
		}
		// An interval counts seconds from the epoch whatever the zone; StackStorm's timezone
		// only moves APScheduler's start. Checked, so a typo still fails.
		st2Timezone(f, o)
	case "core.st2.DateTimer":
		o := f.object(n, field, "date", "timezone")
		loc := st2Timezone(f, o)
		if d := o.needStr("date"); d != "" {
			at, err := st2Date(d, loc)
			if err != nil {
				f.at(o.get("date"), o.field("date"), "%v", err)
			} else {
				out = map[string]any{"date": at.UTC().Format(time.RFC3339)}
			}
		}
	case "core.st2.CronTimer":
		o := f.object(n, field, append(slices.Clone(apsFields), "timezone")...)
		loc := st2Timezone(f, o)
		values := map[string]string{}
		for _, name := range apsFields {
			if v := o.get(name); v != nil {
				if v.Kind != yaml.ScalarNode || isNull(v) {
					f.at(v, o.field(name), "want a number or a cron field like */5, got %s", describe(v))
					continue
				}
				values[name] = strings.TrimSpace(v.Value)
			}
		}
		expr, err := st2Cron(values)
		if err != nil {
			f.at(n, field, "%v", err)
		} else if _, err := ParseCron(expr); err != nil {
			f.at(n, field, "the schedule translates to the cron expression %q, which does not parse: %v", expr, err)
		} else {
			out = map[string]any{"expression": expr, "timezone": loc}
		}
	}
	return out, len(f.errs) == before
}

// st2Timezone reads a StackStorm timer's timezone (UTC when absent), checked like Attune's.
func st2Timezone(f fileProblems, o object) string {
	tz := o.str("timezone")
	if tz == "" {
		return "UTC"
	}
	if _, err := time.LoadLocation(tz); err != nil || tz == "Local" {
		f.at(o.get("timezone"), o.field("timezone"), "unknown timezone %q (want an IANA name like UTC or Europe/Paris)", tz)
	}
	return tz
}

// st2DateLayouts are the forms StackStorm's DateTimer dates take in packs (dateutil reads
// them; these are the ones it documents and its examples use).
var st2DateLayouts = []string{
	time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04",
}

// st2Date reads a DateTimer date; one without an offset is read in the timer's timezone.
func st2Date(s, tz string) (time.Time, error) {
	loc, err := time.LoadLocation(tz)
	if err != nil {
		loc = time.UTC // already reported
	}
	for _, layout := range st2DateLayouts {
		if at, err := time.ParseInLocation(layout, s, loc); err == nil {
			return at, nil
		}
	}
	return time.Time{}, fmt.Errorf("bad date %q: want \"2026-12-31 23:59:59\" (read in timezone) or RFC 3339", s)
}

// apsFields are APScheduler's cron fields, most significant first: StackStorm's CronTimer
// parameters.
var apsFields = []string{"year", "month", "day", "week", "day_of_week", "hour", "minute", "second"}

// apsMinimum is what APScheduler puts in a field less significant than the least significant
// one given: {hour: 5} fires at 05:00:00, not every second of that hour. week and day_of_week
// stay *.
var apsMinimum = map[string]string{"year": "*", "month": "1", "day": "1", "week": "*", "day_of_week": "*", "hour": "0", "minute": "0", "second": "0"}

// apsSyntax is the part of APScheduler's field syntax that cron shares: *, */n, a, a-b, a-b/n
// and lists of them; apsNames adds the names of months and weekdays, in their fields.
var (
	apsSyntax = regexp.MustCompile(`^[0-9*/,-]+$`)
	apsNames  = regexp.MustCompile(`^(?i)([0-9*/,-]|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|mon|tue|wed|thu|fri|sat|sun)+$`)
)

// st2Cron translates APScheduler cron fields into Attune's six-field expression (seconds
// first), with APScheduler's defaults and its weekday numbering (0 is Monday).
func st2Cron(values map[string]string) (string, error) {
	if len(values) == 0 {
		return "", fmt.Errorf("a CronTimer needs at least one of %s", strings.Join(apsFields, ", "))
	}
	fields := map[string]string{}
	left := len(values)
	for _, name := range apsFields {
		v, given := values[name]
		switch {
		case given:
			left--
			syntax := apsSyntax
			if name == "month" || name == "day_of_week" {
				syntax = apsNames
			}
			if !syntax.MatchString(v) {
				// last, 2nd fri, L: APScheduler's own extensions, which cron cannot say.
				return "", fmt.Errorf("%s %q: only *, */n, a, a-b, a-b/n and lists of them translate to cron (APScheduler's last / xth forms do not)", name, v)
			}
		case left > 0:
			v = "*"
		default:
			v = apsMinimum[name]
		}
		fields[name] = v
	}
	for _, name := range []string{"year", "week"} {
		if fields[name] != "*" {
			return "", fmt.Errorf("%s %q: Attune's cron has no %s field; only * is accepted", name, fields[name], name)
		}
	}
	dow, err := apsWeekdays(fields["day_of_week"])
	if err != nil {
		return "", err
	}
	return strings.Join([]string{fields["second"], fields["minute"], fields["hour"], fields["day"], fields["month"], dow}, " "), nil
}

var apsDays = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

// apsWeekdays rewrites an APScheduler day_of_week (0 or mon is Monday … 6 or sun is Sunday)
// as the list of cron weekdays (0 is Sunday) it means. Ranges are expanded, so sat-sun, which
// wraps in cron's numbering, stays one field.
func apsWeekdays(v string) (string, error) {
	if v == "*" {
		return "*", nil
	}
	day := func(s string) (int, error) {
		if i := slices.Index(apsDays, strings.ToLower(s)); i >= 0 {
			return i, nil
		}
		if i, err := strconv.Atoi(s); err == nil && i >= 0 && i <= 6 {
			return i, nil
		}
		return 0, fmt.Errorf("day_of_week %q: want 0-6 (0 is Monday, as in StackStorm) or mon-sun", s)
	}
	seen := map[int]bool{} // cron's numbers
	for _, part := range strings.Split(v, ",") {
		rng, stepText, stepped := strings.Cut(part, "/")
		step := 1
		if stepped {
			s, err := strconv.Atoi(stepText)
			if err != nil || s < 1 {
				return "", fmt.Errorf("day_of_week %q: bad step %q", v, stepText)
			}
			step = s
		}
		lo, hi := 0, 6
		if rng != "*" {
			a, b, isRange := strings.Cut(rng, "-")
			var err error
			if lo, err = day(a); err != nil {
				return "", err
			}
			hi = lo
			if isRange {
				if hi, err = day(b); err != nil {
					return "", err
				}
			} else if stepped {
				hi = 6
			}
			if hi < lo {
				return "", fmt.Errorf("day_of_week %q: range %s runs backwards (APScheduler refuses it too)", v, rng)
			}
		}
		for d := lo; d <= hi; d += step {
			seen[(d+1)%7] = true
		}
	}
	var out []string
	for d := range 7 {
		if seen[d] {
			out = append(out, strconv.Itoa(d))
		}
	}
	return strings.Join(out, ","), nil
}

// readSt2Trigger reads a trigger type in StackStorm's shape (triggers/*.yaml): its payload
// and parameters are JSON Schema objects, mapped onto Attune's flat schemas. Triggers that a
// pack declares this way are posted by its sensors (or through the API).
func (l *loader) readSt2Trigger(f fileProblems, root *yaml.Node) {
	o := f.object(root, "", "name", "pack", "ref", "uid", "description", "payload_schema", "parameters_schema", "tags", "metadata_file")
	t := pack.Trigger{Type: pack.TriggerSensor}
	t.Name, t.Ref = l.name(f, o, pack.KindTrigger)
	t.Description = o.str("description")
	l.st2Identity(f, o, "trigger_type", t.Ref)
	f.st2Tags(o) // labels for people: checked, not recorded
	t.PayloadSchema = f.jsonSchemaObject(o.get("payload_schema"), "payload_schema")
	t.ParametersSchema = f.jsonSchemaParameters(o.get("parameters_schema"), "parameters_schema")
	if len(t.ParametersSchema) > 0 {
		// Attune passes a rule's trigger_params to timers only; a sensor-posted event has no
		// parameters to be matched against.
		f.at(o.get("parameters_schema"), "parameters_schema", "a pack's own trigger takes no parameters in Attune: its sensor posts events, and rules filter them with criteria")
	}
	l.p.Triggers = append(l.p.Triggers, t)
}
