package workflowdef

import "github.com/attune-go/attune/adapters/st2expr"

type (
	st2Func     = st2expr.Func
	st2Env      = st2expr.Env
	st2Template = st2expr.Template
)

func st2Compile(src string) (*st2expr.Template, error) { return st2expr.Compile(src) }
