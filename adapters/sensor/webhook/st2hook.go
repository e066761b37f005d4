package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/attune-go/attune/adapters/safetext"
	"github.com/attune-go/attune/domain/pack"
)

// St2Trigger is StackStorm's webhook trigger. A StackStorm rule names it with parameters
// {url: NAME}; a POST to /api/v1/webhooks/NAME records one EventFired on it carrying the url,
// and every enabled rule on that url reacts to it once (handlers/rulematch).
const St2Trigger = "core.st2.webhook"

// HookLookup tells whether an enabled rule listens on url, and returns the trigger whose
// gate (allow_from, rate_limit) applies: core.st2.webhook's.
type HookLookup func(ctx context.Context, url string) (t pack.Trigger, found bool, err error)

// hook resolves a url that is no trigger's ref. The gate applies per url: its rate is counted
// and its secret looked up under the url (ATTUNE_WEBHOOK_SECRET_<URL>), as for a trigger.
func (h *Handler) hook(ctx context.Context, url string) (pack.Trigger, string, error) {
	if h.hooks == nil {
		return pack.Trigger{}, "", refuse(CodeUnknownTrigger, "no trigger %q", url)
	}
	t, found, err := h.hooks(ctx, url)
	if err != nil {
		return pack.Trigger{}, "", fmt.Errorf("look up webhook url %q: %w", url, err)
	}
	if !found {
		return pack.Trigger{}, "", refuse(CodeUnknownTrigger, "no trigger %q, and no enabled rule listens on the webhook url %q", url, url)
	}
	t.Ref = url
	return t, url, nil
}

// withheldHeaders carry credentials: the payload is recorded in the event log, which is
// immutable and replayed, so they never reach it.
var withheldHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie", "St2-Api-Key", "X-Auth-Token", SignatureHeader}

// hookPayload shapes a StackStorm webhook's payload as StackStorm does: {body, headers}.
// The body is any JSON value ({} when empty); each header keeps its first value.
func hookPayload(body []byte, header http.Header) (map[string]any, json.RawMessage, error) {
	var decoded any = map[string]any{}
	if len(bytes.TrimSpace(body)) > 0 {
		v, err := pack.DecodeValue(body)
		if err != nil {
			return nil, nil, refuse(CodeInvalidJSON, "body is not JSON: %v", err)
		}
		if bad := safetext.JSON(body, "body", nil); bad != nil {
			return nil, nil, &Error{Code: CodeInvalidText, Message: bad.Error(), Field: bad.Field}
		}
		decoded = v
	}
	headers := map[string]any{}
	for name, values := range header {
		if len(values) == 0 || slices.ContainsFunc(withheldHeaders, func(w string) bool { return strings.EqualFold(w, name) }) {
			continue
		}
		headers[name] = values[0]
	}
	payload := map[string]any{"body": decoded, "headers": headers}
	raw, err := json.Marshal(payload) // json.Number keeps every digit of the body's numbers
	if err != nil {
		return nil, nil, refuse(CodeInvalidJSON, "body is not JSON: %v", err)
	}
	if bad := safetext.JSON(raw, "", nil); bad != nil {
		return nil, nil, &Error{Code: CodeInvalidText, Message: bad.Error(), Field: bad.Field}
	}
	return payload, raw, nil
}
