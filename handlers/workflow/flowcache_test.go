package workflow_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/attune-go/attune/domain/execution"
	"github.com/attune-go/attune/handlers/workflow"
)

// cacheDefinition mixes what the cached flow must carry over between messages: a with-items
// window, retries of single items, results gathered into a list, and a join after it.
const cacheDefinition = `{
  "tasks": {
    "each": {"action": "ex.echo", "with": {"items": "{{ parameters.items }}", "concurrency": 3},
             "retry": {"count": 1}, "input": {"i": "{{ item }}"}, "next": [{"do": "sum"}]},
    "sum": {"join": "all", "action": "ex.echo", "input": {"n": "{{ length(task.each.result) }}"}}
  },
  "output": {"n": "{{ task.sum.result.n }}"}
}`

// flakyEveryThird fails the first attempt of every third item.
func flakyEveryThird(req *execution.ExecutionRequested, _ int) (execution.Status, string) {
	if req.WorkflowTask == "each" && strings.Contains(string(req.Parameters), "0") {
		return execution.Failed, ""
	}
	return echo(req, 0)
}

// The cache of folded flows is only an optimisation: whatever it holds, and however stale,
// the engine must append exactly what it appends folding every stream from scratch.
func TestCachedFlowsDecideAsAFoldFromScratch(t *testing.T) {
	t.Parallel()
	items := make([]string, 12)
	for i := range items {
		items[i] = strconv.Itoa(i * 5)
	}
	params := `{"items": [` + strings.Join(items, ",") + `]}`

	uncached := setup(t, cacheDefinition)
	uncached.engine = workflow.New(workflow.Config{Log: uncached.fx.Store(), Catalog: uncached.catalog, Now: uncached.fx.Now, CachedFlows: -1})
	want := uncached.run(t, params, flakyEveryThird)
	if !strings.Contains(want, "WorkflowTaskRetried") || !strings.HasSuffix(want, `to=completed result={"n":12}`) {
		t.Fatalf("the scenario does not retry and complete; it reads:\n%s", want)
	}

	cached := setup(t, cacheDefinition)
	same(t, cached.run(t, params, flakyEveryThird), want)

	// Replicas each cache the flow, so each finds its cached flow behind what the others
	// appended meanwhile and must catch up; a tiny cache also evicts flows in between.
	replicated := setup(t, cacheDefinition)
	c := replicated.catalog
	replicated.replicas = []*workflow.Engine{
		workflow.New(workflow.Config{Log: replicated.fx.Store(), Catalog: c, Now: replicated.fx.Now}),
		workflow.New(workflow.Config{Log: replicated.fx.Store(), Catalog: c, Now: replicated.fx.Now, CachedFlows: 1}),
	}
	same(t, replicated.run(t, params, flakyEveryThird), want)
}
