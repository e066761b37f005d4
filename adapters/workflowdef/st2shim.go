package workflowdef

import (
	"context"
	"errors"
	"strings"
)

// TEMPORARY until adapters/st2expr lands on main: the contract's API, literal values only.

type st2Func func(ctx context.Context, args ...any) (any, error)

type st2Env struct {
	Vars  map[string]any
	Root  any
	Funcs map[string]st2Func
}

type st2Template struct{ src string }

func st2Compile(src string) (*st2Template, error) {
	if strings.Contains(src, "{{") || strings.Contains(src, "{%") || strings.Contains(src, "<%") {
		return nil, errors.New("expressions are not evaluated yet")
	}
	return &st2Template{src: src}, nil
}

func (t *st2Template) Literal() bool { return true }

func (t *st2Template) Render(_ context.Context, _ st2Env) (any, error) { return t.src, nil }

func (t *st2Template) Source() string { return t.src }
