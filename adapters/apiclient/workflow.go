package apiclient

import (
	"context"
	"net/http"
	"net/url"

	"github.com/attune-go/attune/adapters/httpapi"
)

// Workflow returns the workflow tree of a workflow execution: its state, every task run
// with its child execution, nested for child workflows. An execution that is not a
// workflow answers an *APIError with code not_found.
func (c *Client) Workflow(ctx context.Context, executionID string) (httpapi.WorkflowTree, error) {
	var t httpapi.WorkflowTree
	err := c.Do(ctx, http.MethodGet, "/api/v1/executions/"+url.PathEscape(executionID)+"/workflow", nil, &t)
	return t, err
}
