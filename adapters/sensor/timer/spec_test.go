package timer_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/sensor/timer"
)

func TestParseTimerParamsRejectsBadParams(t *testing.T) {
	t.Parallel()
	cases := []struct {
		trigger, params, want string
	}{
		{timer.CronTrigger, `{"expression":"*/5 * * * *"}`, "bad cron expression"},
		{timer.CronTrigger, `{"expression":"61 * * * * *"}`, "bad cron expression"},
		{timer.CronTrigger, `{"expression":"@hourly"}`, "bad cron expression"},
		{timer.CronTrigger, `{"expression":"TZ=UTC */5 * * * * *"}`, "timezone parameter"},
		{timer.CronTrigger, `{"expression":"0 0 0 30 2 *"}`, "never fires"},
		{timer.CronTrigger, `{"expression":"* * * * * *","timezone":"Mars/Olympus"}`, "unknown timezone"},
		{timer.CronTrigger, `{"expression":"* * * * * *","timezone":"Local"}`, "unknown timezone"},
		{timer.CronTrigger, `{}`, "expression is required"},
		{timer.IntervalTrigger, `{"unit":"fortnights","delta":1}`, "unknown unit"},
		{timer.IntervalTrigger, `{"unit":"seconds","delta":0}`, "want an integer >= 1"},
		{timer.IntervalTrigger, `{"unit":"seconds","delta":1.5}`, "cannot unmarshal"},
		{timer.IntervalTrigger, `{"unit":"seconds"}`, "delta is required"},
		{timer.IntervalTrigger, `{"unit":"weeks","delta":100000}`, "longer than ten years"},
		{timer.IntervalTrigger, `{"unit":"seconds","delta":1,"units":"minutes"}`, "unknown field"},
		{timer.DateTrigger, `{"date":"2026-12-01 09:00"}`, "bad date"},
		{timer.DateTrigger, `{"date":"2026-12-01T09:00:00"}`, "bad date"},
		{timer.DateTrigger, `null`, "date is required"},
		{"examples.ping", `{}`, "not a timer trigger"},
	}
	for _, c := range cases {
		_, err := timer.ParseTimerParams(c.trigger, json.RawMessage(c.params))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s: error %v, want one saying %q", c.trigger, c.params, err, c.want)
		}
	}
}

func TestSchedulesComputeTheirNextTick(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		name, trigger, params, after, want string
	}{
		{"seconds align to the epoch", timer.IntervalTrigger, `{"unit":"seconds","delta":7}`, "2026-03-01T12:00:03Z", "2026-03-01T12:00:07Z"},
		{"a tick is strictly after", timer.IntervalTrigger, `{"unit":"minutes","delta":5}`, "2026-03-01T12:05:00Z", "2026-03-01T12:10:00Z"},
		{"days start at midnight UTC", timer.IntervalTrigger, `{"unit":"days","delta":1}`, "2026-03-01T23:59:59.5+02:00", "2026-03-02T00:00:00Z"},
		{"cron in UTC by default", timer.CronTrigger, `{"expression":"0 30 9 * * *"}`, "2026-03-01T10:00:00Z", "2026-03-02T09:30:00Z"},
		{"cron in its timezone", timer.CronTrigger, `{"expression":"0 0 9 * * *","timezone":"Europe/Paris"}`, "2026-03-01T00:00:00Z", "2026-03-01T08:00:00Z"},
		{"cron across a DST change", timer.CronTrigger, `{"expression":"0 0 9 * * *","timezone":"Europe/Paris"}`, "2026-03-31T00:00:00Z", "2026-03-31T07:00:00Z"},
		{"date before it", timer.DateTrigger, `{"date":"2026-12-01T10:00:00+01:00"}`, "2026-03-01T00:00:00Z", "2026-12-01T09:00:00Z"},
	}
	for _, c := range cases {
		spec, err := timer.ParseTimerParams(c.trigger, json.RawMessage(c.params))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		got, ok := spec.Next(at(c.after))
		if !ok || !got.Equal(at(c.want)) {
			t.Errorf("%s: Next(%s) = %s %v, want %s", c.name, c.after, got, ok, c.want)
		}
	}

	date, err := timer.ParseTimerParams(timer.DateTrigger, json.RawMessage(`{"date":"2026-03-01T09:00:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := date.Next(at("2026-03-01T09:00:00Z")); ok {
		t.Errorf("a date timer has a tick %s after its date", got)
	}
	if got, ok := date.First(at("2026-06-01T00:00:00Z")); !ok || !got.Equal(at("2026-03-01T09:00:00Z")) {
		t.Errorf("First of a passed date = %s %v, want the date itself (a missed one-shot)", got, ok)
	}
}
