package apiclient

import (
	"context"
	"net/url"

	"github.com/attune-go/attune/adapters/httpapi"
)

// Policies lists the live policies with their counts (filters: pack, action, type).
func (c *Client) Policies(ctx context.Context, query url.Values) (Page[httpapi.Policy], error) {
	return list[httpapi.Policy](ctx, c, "/api/v1/policies", query)
}

// Policy returns one policy with its counts per key.
func (c *Client) Policy(ctx context.Context, ref string) (httpapi.Policy, error) {
	return get[httpapi.Policy](ctx, c, "/api/v1/policies", ref)
}
