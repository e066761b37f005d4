package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/domain/inquiry"
	"github.com/attune-go/attune/domain/pack"
	"github.com/attune-go/attune/projections/executions"
	"github.com/attune-go/attune/projections/policies"
	"github.com/attune-go/attune/projections/workflows"
)

// liveTypes are the events that change what the execution pages show: the pages follow
// /api/v1/stream filtered on them and refresh when one arrives.
var liveTypes = strings.Join([]string{
	execution.ExecutionRequested{}.EventType(),
	execution.ExecutionScheduled{}.EventType(),
	execution.ExecutionStatusChanged{}.EventType(),
}, ",")

// allStatuses lists the statuses the filter offers, in the order an execution goes through.
var allStatuses = []execution.Status{
	execution.Requested, execution.Delayed, execution.Scheduling, execution.Scheduled, execution.Running,
	execution.Pending, execution.Pausing, execution.Paused, execution.Canceling, execution.Completed,
	execution.Failed, execution.Timeout, execution.Cancelled, execution.Abandoned,
}

// filterForm is the list's filter as the form holds it.
type filterForm struct {
	Status, Action, Rule, Trigger, Parent, TraceTag, Since, Until string
}

type listPage struct {
	Filter   filterForm
	Statuses []execution.Status
	Items    []httpapi.Execution
	Error    string
	Next     string // the URL of the next page, "" on the last
	First    string // the URL of the first page, "" on it
	LiveURL  string
}

// timeLayouts are what the time fields accept: the browser's datetime-local (read as UTC)
// and RFC 3339.
var timeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339Nano}

func parseTime(name, v string) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.ParseInLocation(l, v, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%s %q: want a time like 2026-11-23T09:00 (UTC) or RFC 3339", name, v)
}

// listFilter reads the query the way the API reads its own (GET /api/v1/executions).
func listFilter(q url.Values) (filterForm, executions.Filter, error) {
	form := filterForm{Status: q.Get("status"), Action: q.Get("action"), Rule: q.Get("rule"), Trigger: q.Get("trigger"),
		Parent: q.Get("parent"), TraceTag: q.Get("trace_tag"), Since: q.Get("since"), Until: q.Get("until")}
	f := executions.Filter{Action: form.Action, Rule: form.Rule, Trigger: form.Trigger, Parent: form.Parent,
		TraceTag: form.TraceTag, Cursor: q.Get("cursor"), Limit: 50}
	var errs []error
	for one := range strings.SplitSeq(form.Status, ",") {
		if one = strings.TrimSpace(one); one == "" {
			continue
		}
		st, err := execution.ParseStatus(one)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		f.Status = append(f.Status, st)
	}
	for _, tf := range []struct {
		name, v string
		dst     *time.Time
	}{{"since", form.Since, &f.Since}, {"until", form.Until, &f.Until}} {
		if tf.v == "" {
			continue
		}
		t, err := parseTime(tf.name, tf.v)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		*tf.dst = t
	}
	if len(errs) == 0 {
		errs = append(errs, f.Validate())
	}
	return form, f, errors.Join(errs...)
}

func (s *Server) listExecutions(w http.ResponseWriter, r *http.Request, ss session) error {
	q := r.URL.Query()
	form, f, err := listFilter(q)
	page := listPage{Filter: form, Statuses: allStatuses, LiveURL: "/api/v1/stream?type=" + liveTypes}
	if err != nil {
		page.Error = strings.ReplaceAll(err.Error(), "\n", "; ")
		s.render(w, r, http.StatusBadRequest, "executions", ss, "Executions", page)
		return nil
	}
	got, err := s.cfg.ListExecutions(r.Context(), f)
	if err != nil {
		return err
	}
	for _, x := range got.Items {
		page.Items = append(page.Items, httpapi.ExecutionView(x))
	}
	if got.Next != "" {
		nq := cloneValues(q)
		nq.Set("cursor", got.Next)
		page.Next = "/executions?" + nq.Encode()
	}
	if f.Cursor != "" {
		fq := cloneValues(q)
		fq.Del("cursor")
		page.First = "/executions?" + fq.Encode()
	}
	s.render(w, r, http.StatusOK, "executions", ss, "Executions", page)
	return nil
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		if len(v) > 0 && v[0] != "" {
			out[k] = slices.Clone(v)
		}
	}
	return out
}

// timelineEvent is one event of an execution's history.
type timelineEvent struct {
	httpapi.Envelope
	CauseHere bool // the cause is an event of this timeline (an anchor links to it)
}

type detailPage struct {
	X          httpapi.Execution
	Children   []httpapi.Execution
	MoreKids   bool
	History    []timelineEvent
	LiveURL    string
	Watch      string // ids whose events refresh the page
	IsWorkflow bool
	// Inquiry is the page of the inquiry this execution asks (core.ask), "" otherwise.
	Inquiry string
	// Tree is the workflow's nested tree (GetWorkflow), nil without one: the page then lists
	// the children flat.
	Tree *httpapi.WorkflowTree
	// Rerun: the execution has ended and the dashboard can re-run it. RerunTasks are the
	// tasks a workflow that did not complete can be re-run from (its form's select).
	Rerun      bool
	RerunTasks []string
	// RerunError is why the last re-run was refused (the API's 409 or 422), shown on the page.
	RerunError *httpapi.Error
}

func (s *Server) showExecution(w http.ResponseWriter, r *http.Request, ss session) error {
	id := r.PathValue("id")
	page, ok, err := s.detail(r, ss, id)
	var apiErr *httpapi.Error
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
		// A new execution (a re-run's, a run's just asked for) is in the log before its read
		// model has it: the page follows the stream and turns into the execution's page when
		// it appears.
		s.render(w, r, http.StatusNotFound, "missing", ss, "No execution "+id,
			missingPage{ID: id, Message: apiErr.Message, LiveURL: "/api/v1/stream?type=" + liveTypes})
		return nil
	}
	if err != nil || !ok {
		return err
	}
	s.render(w, r, http.StatusOK, "execution", ss, page.X.Action+" "+page.X.ID, page)
	return nil
}

// missingPage is the page of an execution the read model does not have (yet).
type missingPage struct{ ID, Message, LiveURL string }

// detail reads what an execution's page shows. Not ok: no such execution, and the error page
// is written.
func (s *Server) detail(r *http.Request, ss session, id string) (detailPage, bool, error) {
	x, err := s.cfg.GetExecution(r.Context(), id)
	if errors.Is(err, executions.ErrNotFound) {
		return detailPage{}, false, &httpapi.Error{Status: http.StatusNotFound,
			Message: fmt.Sprintf("No execution %q (a new one may take a moment to appear).", id)}
	}
	if err != nil {
		return detailPage{}, false, err
	}
	page := detailPage{X: httpapi.ExecutionView(x), LiveURL: "/api/v1/stream?type=" + liveTypes,
		IsWorkflow: x.RunnerType == string(pack.RunnerWorkflow),
		Rerun:      x.Status.Terminal() && s.cfg.RerunExecution != nil}
	if x.Action == inquiry.AskAction && s.cfg.GetInquiry != nil && ss.may("GET /api/v1/inquiries/{id}") {
		page.Inquiry = "/inquiries/" + url.PathEscape(x.ID) // an inquiry's id is its execution's
	}
	kids, err := s.cfg.ListExecutions(r.Context(), executions.Filter{Parent: id, Limit: executions.MaxLimit})
	if err != nil {
		return detailPage{}, false, err
	}
	watch := []string{id}
	for _, k := range slices.Backward(kids.Items) { // oldest first: the order tasks ran in
		page.Children = append(page.Children, httpapi.ExecutionView(k))
		if !k.Status.Terminal() {
			watch = append(watch, k.ID)
		}
	}
	page.MoreKids = kids.Next != ""
	if page.IsWorkflow && s.cfg.GetWorkflow != nil && ss.may("GET /api/v1/executions/{id}/workflow") {
		tree, err := s.cfg.GetWorkflow(r.Context(), id)
		switch {
		case errors.Is(err, workflows.ErrNotFound): // not projected yet: the flat list stands in
		case err != nil:
			return detailPage{}, false, err
		default:
			view := httpapi.WorkflowTreeView(tree)
			page.Tree = &view
			watch = append(watch, unfinishedChildren(view)...)
		}
	}
	page.Watch = strings.Join(watch, " ")
	if page.Rerun && page.IsWorkflow && x.Status != execution.Completed {
		page.RerunTasks = rerunTasks(page)
	}
	if s.cfg.ReadStream != nil {
		recs, err := s.cfg.ReadStream(r.Context(), execution.StreamID(id))
		if err != nil {
			return detailPage{}, false, err
		}
		here := map[string]bool{}
		for _, e := range recs {
			env := httpapi.EnvelopeOf(e)
			page.History = append(page.History, timelineEvent{Envelope: env, CauseHere: here[env.Metadata.CausationID]})
			here[env.EventID] = true
		}
	}
	return page, true, nil
}

// unfinishedChildren lists the child executions of a tree's runs, nested ones too, that have
// not ended: their events refresh the page.
func unfinishedChildren(t httpapi.WorkflowTree) []string {
	var out []string
	for _, task := range t.Tasks {
		if task.Child.ID != "" && !task.Child.Status.Terminal() {
			out = append(out, task.Child.ID)
		}
		if task.Workflow != nil {
			out = append(out, unfinishedChildren(*task.Workflow)...)
		}
	}
	return out
}

// rerunTasks names the tasks a workflow ran, in the order they first ran: the ones it can be
// re-run from.
func rerunTasks(page detailPage) []string {
	var names []string
	add := func(n string) {
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if page.Tree != nil {
		for _, t := range page.Tree.Tasks {
			add(t.Name)
		}
		return names
	}
	for _, k := range page.Children {
		add(k.WorkflowTask)
	}
	return names
}

// rerun asks the re-run use case, as POST /api/v1/executions/{id}/rerun does: the whole
// execution again, or a workflow from a task (only its failed items, when asked). It sends
// the browser to the new execution; a refusal (409, 422) is shown on the execution's page.
func (s *Server) rerun(w http.ResponseWriter, r *http.Request, ss session) error {
	id := r.PathValue("id")
	req := httpapi.RerunRequest{FromTask: strings.TrimSpace(r.PostFormValue("from_task")),
		FailedItems: r.PostFormValue("failed_items") != "", Actor: ss.actor()}
	var err error
	if req.FailedItems && req.FromTask == "" {
		err = &httpapi.Error{Status: http.StatusUnprocessableEntity, Code: httpapi.CodeValidation, Field: "failed_items",
			Message: "failed_items re-runs the failed items of the task from_task names: name it"}
	} else {
		var newID string
		if newID, err = s.cfg.RerunExecution(r.Context(), id, req); err == nil {
			seeOther(w, r, "/executions/"+url.PathEscape(newID))
			return nil
		}
	}
	refused := s.classify(err)
	if refused == nil || refused.Status < 400 || refused.Status >= 500 || refused.Status == http.StatusNotFound {
		return err
	}
	page, ok, derr := s.detail(r, ss, id)
	if derr != nil || !ok {
		return err
	}
	page.RerunError = refused
	s.render(w, r, refused.Status, "execution", ss, page.X.Action+" "+page.X.ID, page)
	return nil
}

// cancel asks the cancel use case, as POST /api/v1/executions/{id}/cancel does.
func (s *Server) cancel(w http.ResponseWriter, r *http.Request, ss session) error {
	id := r.PathValue("id")
	if err := s.cfg.CancelExecution(r.Context(), id, ss.actor()); err != nil {
		return err
	}
	http.Redirect(w, r, "/executions/"+url.PathEscape(id), http.StatusSeeOther)
	return nil
}

// hold pauses or resumes a workflow through its use case.
func (s *Server) hold(do func(ctx context.Context, id, actor string) (execution.Status, error)) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, ss session) error {
		id := r.PathValue("id")
		if _, err := do(r.Context(), id, ss.actor()); err != nil {
			return err
		}
		http.Redirect(w, r, "/executions/"+url.PathEscape(id), http.StatusSeeOther)
		return nil
	}
}

type overviewPage struct {
	Counts []statusCount
	Recent []httpapi.Execution
	Total  int64
	// Queues are the policies holding executions back (queued or delayed), busiest first;
	// Held sums them. HasPolicies: the dashboard reads policies at all.
	Queues      []httpapi.Policy
	Held        int64
	HasPolicies bool
	// Readiness is /readyz's checks: each reader's lag behind the log ("ok" or how far).
	Readiness []readyCheck
	Ready     bool
	// Chart is executions per minute by status over the last half hour; nil without
	// ExecutionsPerMinute.
	Chart *perMinuteChart
}

type readyCheck struct{ Name, State string }

type statusCount struct {
	Status execution.Status
	N      int64
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request, ss session) error {
	var page overviewPage
	if s.cfg.CountByStatus != nil {
		counts, err := s.cfg.CountByStatus(r.Context())
		if err != nil {
			return err
		}
		for _, st := range allStatuses {
			if n := counts[st]; n > 0 {
				page.Counts = append(page.Counts, statusCount{Status: st, N: n})
				page.Total += n
			}
		}
	}
	if s.cfg.ExecutionsPerMinute != nil {
		since, until := chartWindow(s.cfg.Now())
		counts, err := s.cfg.ExecutionsPerMinute(r.Context(), since, until)
		if err != nil {
			return err
		}
		c := buildChart(since, counts)
		page.Chart = &c
	}
	if err := s.queues(r, &page); err != nil {
		return err
	}
	if s.cfg.Ready != nil {
		ok, checks := s.cfg.Ready(r.Context())
		page.Ready = ok
		for _, n := range slices.Sorted(maps.Keys(checks)) {
			page.Readiness = append(page.Readiness, readyCheck{Name: n, State: checks[n]})
		}
	}
	recent, err := s.cfg.ListExecutions(r.Context(), executions.Filter{Limit: 10})
	if err != nil {
		return err
	}
	for _, x := range recent.Items {
		page.Recent = append(page.Recent, httpapi.ExecutionView(x))
	}
	s.render(w, r, http.StatusOK, "overview", ss, "Overview", page)
	return nil
}

// queues reads every policy (pages of the API's largest) for the executions each holds back.
func (s *Server) queues(r *http.Request, page *overviewPage) error {
	if s.cfg.ListPolicies == nil {
		return nil
	}
	page.HasPolicies = true
	f := policies.Filter{Limit: policies.MaxLimit}
	for {
		got, err := s.cfg.ListPolicies(r.Context(), f)
		if err != nil {
			return err
		}
		for _, v := range got.Items {
			if v.Queued+v.Delayed > 0 {
				page.Queues = append(page.Queues, httpapi.PolicyView(v))
				page.Held += v.Queued + v.Delayed
			}
		}
		if got.Next == "" {
			break
		}
		f.Cursor = got.Next
	}
	slices.SortStableFunc(page.Queues, func(a, b httpapi.Policy) int {
		return cmp.Compare(b.Queued+b.Delayed, a.Queued+a.Delayed)
	})
	return nil
}
