package apiclient

import (
	"context"
	"net/http"
	"net/url"

	"github.com/attune-go/attune/adapters/httpapi"
)

// keyPath is the API path of a key: a system key without pack, else the pack's key.
func keyPath(pack, name string) string {
	if pack == "" {
		return "/api/v1/keys/system/" + url.PathEscape(name)
	}
	return "/api/v1/keys/pack/" + url.PathEscape(pack) + "/" + url.PathEscape(name)
}

// Keys lists the keys of the key-value store (filters scope, pack, prefix; limit, cursor).
func (c *Client) Keys(ctx context.Context, query url.Values) (Page[httpapi.Key], error) {
	return list[httpapi.Key](ctx, c, "/api/v1/keys", query)
}

// Key reads one key (pack "" for a system key); decrypt asks for a secret value (admin only).
func (c *Client) Key(ctx context.Context, pack, name string, decrypt bool) (httpapi.Key, error) {
	var k httpapi.Key
	path := keyPath(pack, name)
	if decrypt {
		path += "?decrypt=true"
	}
	err := c.Do(ctx, http.MethodGet, path, nil, &k)
	return k, err
}

// SetKey sets a key's value.
func (c *Client) SetKey(ctx context.Context, pack, name string, w httpapi.KeyWrite) (httpapi.Key, error) {
	var k httpapi.Key
	err := c.Do(ctx, http.MethodPut, keyPath(pack, name), w, &k)
	return k, err
}

// DeleteKey deletes a key.
func (c *Client) DeleteKey(ctx context.Context, pack, name string) error {
	return c.Do(ctx, http.MethodDelete, keyPath(pack, name), nil, nil)
}
