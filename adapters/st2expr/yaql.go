package st2expr

import (
	"context"
	"errors"
)

// yaqlTemplate is a compiled string holding <% YAQL %>.
type yaqlTemplate struct {
	names, funcs []string
}

func compileYAQL(src string) (*yaqlTemplate, error) {
	return nil, errors.New("YAQL is not available yet")
}

func (t *yaqlTemplate) render(ctx context.Context, env Env) (any, error) {
	return nil, errors.New("YAQL is not available yet")
}
