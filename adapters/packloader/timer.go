package packloader

import (
	"errors"
	"strings"
	"time"
	_ "time/tzdata" // a timezone valid here is valid on every host the timer may run on

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"
)

// cronParser reads core.crontimer expressions: exactly six fields, seconds first
// ("*/5 * * * * *"), no descriptors. The timer sensor must parse with the same options.
var cronParser = cron.NewParser(cron.Second | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// ParseCron parses a core.crontimer expression as the loader validates it.
func ParseCron(expr string) (cron.Schedule, error) {
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return nil, errTZPrefix
	}
	return cronParser.Parse(expr)
}

var errTZPrefix = errors.New("set the timezone with the timezone parameter, not a TZ= prefix")

// DateLayout is the format of core.datetimer's date: RFC 3339 with an explicit offset, so a
// one-shot timer fires at the same instant wherever it runs.
const DateLayout = time.RFC3339

// checkTimer checks what the core timers' parameter schemas cannot say: that a cron
// expression parses, a timezone exists and a date is a date. The schemas already check
// presence, types and the interval's unit and delta.
func checkTimer(f fileProblems, trigger string, params *yaml.Node) {
	if params == nil {
		return
	}
	values := map[string]string{}
	nodes := map[string]*yaml.Node{}
	for _, e := range f.quiet().entries(params, "trigger_params") {
		if v, ok := f.quiet().value(e.v, ""); ok {
			if s, isStr := v.(string); isStr && !hasTemplate(s) {
				values[e.key], nodes[e.key] = s, e.v
			}
		}
	}
	switch trigger {
	case "core.crontimer":
		if expr, ok := values["expression"]; ok {
			if _, err := ParseCron(expr); err != nil {
				f.at(nodes["expression"], "trigger_params.expression", "bad cron expression %q (want 6 fields, seconds first, like \"*/5 * * * * *\"): %v", expr, err)
			}
		}
		if tz, ok := values["timezone"]; ok {
			// "" and Local load, but mean the clock of whichever host runs the timer.
			if _, err := time.LoadLocation(tz); err != nil || tz == "" || tz == "Local" {
				f.at(nodes["timezone"], "trigger_params.timezone", "unknown timezone %q (want an IANA name like UTC or Europe/Paris)", tz)
			}
		}
	case "core.datetimer":
		if d, ok := values["date"]; ok {
			if _, err := time.Parse(DateLayout, d); err != nil {
				f.at(nodes["date"], "trigger_params.date", "bad date %q: want RFC 3339 with an offset, like 2026-12-01T09:00:00Z", d)
			}
		}
	}
}
