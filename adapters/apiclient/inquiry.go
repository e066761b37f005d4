package apiclient

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/attune-go/attune/adapters/httpapi"
)

// Inquiries lists inquiries, newest first (status, parent, limit, cursor).
func (c *Client) Inquiries(ctx context.Context, query url.Values) (Page[httpapi.Inquiry], error) {
	return list[httpapi.Inquiry](ctx, c, "/api/v1/inquiries", query)
}

// Inquiry gets one inquiry.
func (c *Client) Inquiry(ctx context.Context, id string) (httpapi.Inquiry, error) {
	return get[httpapi.Inquiry](ctx, c, "/api/v1/inquiries", id)
}

// Respond answers an inquiry; answer is a JSON object.
func (c *Client) Respond(ctx context.Context, id string, answer json.RawMessage) (httpapi.InquiryAnswer, error) {
	var a httpapi.InquiryAnswer
	err := c.Do(ctx, http.MethodPost, "/api/v1/inquiries/"+url.PathEscape(id)+"/respond", answer, &a)
	return a, err
}
