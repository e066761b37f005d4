package packloader

import "github.com/attune-go/attune/domain/pack"

// st2Workflow loads the definition of an orquesta or action-chain action into a; false when
// the action is not to be registered. The orquesta work replaces this file: until then such
// actions are refused.
func (l *loader) st2Workflow(f fileProblems, o object, a *pack.Action) bool {
	f.at(o.get("runner_type"), "runner_type", "%s workflows are not yet supported", a.RunnerType)
	return false
}
