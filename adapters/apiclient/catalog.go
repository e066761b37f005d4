package apiclient

import (
	"context"
	"net/http"
	"net/url"

	"github.com/attune-go/attune/adapters/httpapi"
)

// Page is one page of a list; NextCursor continues it (nil on the last page).
type Page[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// list gets one page of a list; query holds its filters, limit and cursor.
func list[T any](ctx context.Context, c *Client, path string, query url.Values) (Page[T], error) {
	var p Page[T]
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	err := c.Do(ctx, http.MethodGet, path, nil, &p)
	return p, err
}

// get gets one item.
func get[T any](ctx context.Context, c *Client, path, id string) (T, error) {
	var v T
	err := c.Do(ctx, http.MethodGet, path+"/"+url.PathEscape(id), nil, &v)
	return v, err
}

// Packs lists registered packs (include_retired=true for the retired ones too).
func (c *Client) Packs(ctx context.Context, query url.Values) (Page[httpapi.Pack], error) {
	return list[httpapi.Pack](ctx, c, "/api/v1/packs", query)
}

// Pack returns one pack.
func (c *Client) Pack(ctx context.Context, ref string) (httpapi.Pack, error) {
	return get[httpapi.Pack](ctx, c, "/api/v1/packs", ref)
}

// Actions lists actions (filters: pack, include_retired).
func (c *Client) Actions(ctx context.Context, query url.Values) (Page[httpapi.Action], error) {
	return list[httpapi.Action](ctx, c, "/api/v1/actions", query)
}

// Action returns one action.
func (c *Client) Action(ctx context.Context, ref string) (httpapi.Action, error) {
	return get[httpapi.Action](ctx, c, "/api/v1/actions", ref)
}

// Triggers lists triggers (filters: pack, include_retired).
func (c *Client) Triggers(ctx context.Context, query url.Values) (Page[httpapi.Trigger], error) {
	return list[httpapi.Trigger](ctx, c, "/api/v1/triggers", query)
}

// Trigger returns one trigger.
func (c *Client) Trigger(ctx context.Context, ref string) (httpapi.Trigger, error) {
	return get[httpapi.Trigger](ctx, c, "/api/v1/triggers", ref)
}

// Rules lists rules (filters: pack, trigger, action, enabled, include_retired).
func (c *Client) Rules(ctx context.Context, query url.Values) (Page[httpapi.Rule], error) {
	return list[httpapi.Rule](ctx, c, "/api/v1/rules", query)
}

// Rule returns one rule with its effective state.
func (c *Client) Rule(ctx context.Context, ref string) (httpapi.Rule, error) {
	return get[httpapi.Rule](ctx, c, "/api/v1/rules", ref)
}

// Events lists trigger events, newest first (filters: trigger, source, since, until).
func (c *Client) Events(ctx context.Context, query url.Values) (Page[httpapi.TriggerEvent], error) {
	return list[httpapi.TriggerEvent](ctx, c, "/api/v1/events", query)
}

// Event returns one trigger event.
func (c *Client) Event(ctx context.Context, id string) (httpapi.TriggerEvent, error) {
	return get[httpapi.TriggerEvent](ctx, c, "/api/v1/events", id)
}

// Enforcements lists enforcements, newest first (filters: rule, event, status).
func (c *Client) Enforcements(ctx context.Context, query url.Values) (Page[httpapi.Enforcement], error) {
	return list[httpapi.Enforcement](ctx, c, "/api/v1/enforcements", query)
}

// Enforcement returns one enforcement.
func (c *Client) Enforcement(ctx context.Context, id string) (httpapi.Enforcement, error) {
	return get[httpapi.Enforcement](ctx, c, "/api/v1/enforcements", id)
}

// Workers lists workers with their last heartbeat (filter: status).
func (c *Client) Workers(ctx context.Context, query url.Values) (Page[httpapi.Worker], error) {
	return list[httpapi.Worker](ctx, c, "/api/v1/workers", query)
}

// Trace returns the causal tree of a trigger event.
func (c *Client) Trace(ctx context.Context, eventID string) (httpapi.Trace, error) {
	return get[httpapi.Trace](ctx, c, "/api/v1/traces", eventID)
}
