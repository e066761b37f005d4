package web

import (
	"fmt"
	"time"

	"github.com/attune-go/attune/domain/execution"
)

// The overview's chart: executions created per minute over the last half hour, stacked by
// status, drawn as SVG on the server (no script; the page's CSP allows no inline style, so
// every colour and size is an SVG attribute).
const (
	chartMinutes = 30
	chartBarW    = 10 // a minute's column, in the viewBox's units
	chartGap     = 2
	chartH       = 100 // the tallest column's height
	chartTop     = 14  // room above the columns for the scale's label
	chartBottom  = 16  // room below for the time axis
)

// statusColour gives each status its colour in the chart (the status badges' hues).
var statusColour = map[execution.Status]string{
	execution.Completed: "#2da44e", execution.Failed: "#cf222e", execution.Timeout: "#a40e26",
	execution.Abandoned: "#82071e", execution.Cancelled: "#8c959f", execution.Canceling: "#afb8c1",
	execution.Running: "#0969da", execution.Scheduled: "#54aeff", execution.Scheduling: "#80ccff",
	execution.Requested: "#b6e3ff", execution.Delayed: "#d4a72c", execution.Pending: "#bf8700",
	execution.Pausing: "#eac54f", execution.Paused: "#9a6700",
}

type chartBar struct {
	X, Y, W, H  int
	Fill, Title string
}

type chartLabel struct {
	X            int
	Anchor, Text string
}

type chartLegend struct {
	Status execution.Status
	Fill   string
	N      int64
}

// perMinuteChart is what overview.html draws.
type perMinuteChart struct {
	Width, Height, Base int // the viewBox, and the columns' baseline
	Bars                []chartBar
	Labels              []chartLabel
	Legend              []chartLegend
	Max, Total          int64
	Since, Until        time.Time
}

// chartWindow is the half hour the chart shows: the current minute and the 29 before it.
func chartWindow(now time.Time) (since, until time.Time) {
	until = now.UTC().Truncate(time.Minute).Add(time.Minute)
	return until.Add(-chartMinutes * time.Minute), until
}

// buildChart lays the counts out as stacked columns, one per minute of [since, since+30m).
func buildChart(since time.Time, counts map[time.Time]map[execution.Status]int64) perMinuteChart {
	c := perMinuteChart{Width: chartMinutes * chartBarW, Height: chartTop + chartH + chartBottom, Base: chartTop + chartH,
		Since: since, Until: since.Add(chartMinutes * time.Minute)}
	perStatus := map[execution.Status]int64{}
	for m := range chartMinutes {
		var total int64
		for st, n := range counts[since.Add(time.Duration(m)*time.Minute)] {
			total += n
			perStatus[st] += n
		}
		c.Max = max(c.Max, total)
		c.Total += total
	}
	for _, st := range allStatuses {
		if n := perStatus[st]; n > 0 {
			c.Legend = append(c.Legend, chartLegend{Status: st, Fill: statusColour[st], N: n})
		}
	}
	for m := range chartMinutes {
		minute := since.Add(time.Duration(m) * time.Minute)
		y := c.Base
		var stacked int64
		for _, st := range allStatuses { // the order an execution goes through, bottom up
			n := counts[minute][st]
			if n == 0 {
				continue
			}
			// Heights from the cumulative sums, so rounding never makes a column taller
			// than its total says.
			top := c.Base - int((stacked+n)*chartH/c.Max)
			stacked += n
			h := y - top
			if h < 1 {
				h, top = 1, y-1 // every count shows, however small beside the tallest
			}
			c.Bars = append(c.Bars, chartBar{X: m*chartBarW + chartGap/2, Y: top, W: chartBarW - chartGap, H: h,
				Fill: statusColour[st], Title: fmt.Sprintf("%s UTC: %d %s", minute.Format("15:04"), n, st)})
			y = top
		}
	}
	// The first and last labels align to the chart's edges, so neither is cut off.
	c.Labels = []chartLabel{
		{X: 0, Anchor: "start", Text: since.Format("15:04")},
		{X: chartMinutes / 2 * chartBarW, Anchor: "middle", Text: since.Add(chartMinutes / 2 * time.Minute).Format("15:04")},
		{X: c.Width, Anchor: "end", Text: since.Add((chartMinutes - 1) * time.Minute).Format("15:04")},
	}
	return c
}
