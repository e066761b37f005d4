package packloader

import (
	"strings"
	"testing"
	"time"
)

func TestStackStormCronTranslatesWithAPSchedulerDefaultsAndWeekdays(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   map[string]string
		want string
	}{
		// Less significant fields than the last one given take their minimum, greater ones *.
		{map[string]string{"hour": "5"}, "0 0 5 * * *"},
		{map[string]string{"minute": "*/5"}, "0 */5 * * * *"},
		{map[string]string{"second": "*/2"}, "*/2 * * * * *"},
		{map[string]string{"day": "1"}, "0 0 0 1 * *"},
		// 0 is Monday in StackStorm (APScheduler), Sunday in cron.
		{map[string]string{"day_of_week": "0", "hour": "9"}, "0 0 9 * * 1"},
		{map[string]string{"day_of_week": "6"}, "0 0 0 * * 0"},
		{map[string]string{"day_of_week": "mon-fri", "hour": "8", "minute": "30"}, "0 30 8 * * 1,2,3,4,5"},
		{map[string]string{"day_of_week": "5-6"}, "0 0 0 * * 0,6"},
		{map[string]string{"day_of_week": "*/2"}, "0 0 0 * * 0,1,3,5"},
		{map[string]string{"day_of_week": "sat,sun", "year": "*"}, "0 0 0 * * 0,6"},
	} {
		got, err := st2Cron(c.in)
		if err != nil || got != c.want {
			t.Errorf("%v: got %q, %v; want %q", c.in, got, err, c.want)
		}
		if err == nil {
			if _, err := ParseCron(got); err != nil {
				t.Errorf("%v: %q does not parse: %v", c.in, got, err)
			}
		}
	}
	for _, c := range []struct {
		in   map[string]string
		want string
	}{
		{map[string]string{}, "needs at least one"},
		{map[string]string{"year": "2027"}, "no year field"},
		{map[string]string{"week": "3"}, "no week field"},
		{map[string]string{"day": "last"}, "last / xth"},
		{map[string]string{"day_of_week": "7"}, "0 is Monday"},
		{map[string]string{"day_of_week": "fri-mon"}, "backwards"},
	} {
		if _, err := st2Cron(c.in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want an error with %q", c.in, err, c.want)
		}
	}
}

func TestStackStormDateIsReadInTheTimersZone(t *testing.T) {
	t.Parallel()
	at, err := st2Date("2026-12-31 23:59:59", "Europe/Paris")
	if err != nil || !at.Equal(time.Date(2026, 12, 31, 22, 59, 59, 0, time.UTC)) {
		t.Fatalf("got %v, %v", at, err)
	}
	at, err = st2Date("2026-12-31T23:59:59Z", "Europe/Paris")
	if err != nil || !at.Equal(time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)) {
		t.Fatalf("an explicit offset wins: got %v, %v", at, err)
	}
	if _, err := st2Date("tomorrow", "UTC"); err == nil {
		t.Fatal("a date that is none was accepted")
	}
}

func TestStackStormCriteriaKeys(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][2]string{
		"trigger.body.name":           {"payload.body.name", ""},
		"trigger.body.count#2":        {"payload.body.count", "2"},
		"trigger.headers['X-Event']":  {"payload.headers.X-Event", ""},
		`trigger.headers["X-A"].b#hi`: {"payload.headers.X-A.b", "hi"},
		"trigger.items[0].name":       {"payload.items.0.name", ""},
		"trigger.executed_at":         {"payload.executed_at", ""},
	} {
		path, tag, err := st2CriteriaKey(in)
		if err != nil || path != want[0] || tag != want[1] {
			t.Errorf("%s: got %q %q %v, want %q %q", in, path, tag, err, want[0], want[1])
		}
	}
	for _, in := range []string{"payload.x", "trigger", "triggers.x", "trigger.a..b", "trigger['a.b']", "trigger['x", "trigger.items[*].name", "trigger.a.*"} {
		if p, _, err := st2CriteriaKey(in); err == nil {
			t.Errorf("%s: accepted as %s", in, p)
		}
	}
}
