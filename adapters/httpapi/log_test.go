package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/httpapi"
	"github.com/attune-go/attune/domain/event"
)

func getLog(t *testing.T, srv *httptest.Server, q url.Values) httpapi.LogPage {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + "/api/v1/log?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/log?%s: %d", q.Encode(), resp.StatusCode)
	}
	var page httpapi.LogPage
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	return page
}

// An auditor paging through the log while writers keep appending sees every event exactly
// once, in cursor order — on Postgres too, where transactions commit out of order.
func TestLogPagesWithoutRepeatsOrGapsWhileAppending(t *testing.T) {
	t.Parallel()
	s := newPgStore(t)
	srv := feedServer(t, s)
	const writers, perWriter = 4, 40

	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				n := 1 + i%3 // batches of 1 to 3 events per transaction
				batch := make([]eventstore.Proposed, 0, n)
				for range n {
					p, err := eventstore.NewProposed(requested(fmt.Sprintf("w%d-%d", w, i)), event.Metadata{Actor: "writer"})
					if err != nil {
						t.Error(err)
						return
					}
					batch = append(batch, p)
				}
				if _, err := s.Append(context.Background(), fmt.Sprintf("execution-w%d-%d", w, i), eventstore.NoStream, batch...); err != nil {
					t.Errorf("append: %v", err)
					return
				}
			}
		}()
	}
	writing := make(chan struct{})
	go func() { wg.Wait(); close(writing) }()

	total := 0
	for i := range perWriter {
		total += writers * (1 + i%3)
	}
	seen := map[string]bool{}
	var last eventstore.Position
	after := ""
	deadline := time.Now().Add(waitLimit)
	for {
		page := getLog(t, srv, url.Values{"after": {after}, "limit": {"7"}})
		for _, e := range page.Items {
			p, err := eventstore.ParsePosition(e.Position)
			if err != nil {
				t.Fatal(err)
			}
			if !last.Less(p) {
				t.Fatalf("event %s at %s comes after %s: out of order or repeated", e.EventID, p, last)
			}
			if seen[e.EventID] {
				t.Fatalf("event %s seen twice", e.EventID)
			}
			seen[e.EventID], last = true, p
		}
		switch {
		case page.NextCursor != nil:
			after = *page.NextCursor
			if after != last.String() {
				t.Fatalf("next_cursor %s, want the last item's position %s", after, last)
			}
		case len(seen) == total:
			select {
			case <-writing:
			case <-time.After(waitLimit):
				t.Fatal("writers still running after every event was read")
			}
			if extra := getLog(t, srv, url.Values{"after": {last.String()}}); len(extra.Items) != 0 {
				t.Fatalf("%d events after the last one appended", len(extra.Items))
			}
			return
		case time.Now().After(deadline):
			t.Fatalf("paged through %d events in %s, %d were appended", len(seen), waitLimit, total)
		default:
			// At the head for now: go on after the last item, as an auditor polling would.
			// Events committed meanwhile, and those that an open transaction (anywhere in
			// the database) still hides, come on a later page.
			after = last.String()
			time.Sleep(time.Millisecond) // a poll's pause, as an auditor's would be longer
		}
	}
}

func TestLogPageSizes(t *testing.T) {
	t.Parallel()
	s := newMemStore(t)
	srv := feedServer(t, s)
	for i := range 150 {
		appendOne(t, s, requested(fmt.Sprint(i)), fmt.Sprint(i), "")
	}
	first := getLog(t, srv, nil)
	if len(first.Items) != 100 || first.NextCursor == nil || *first.NextCursor != first.Items[99].Position {
		t.Fatalf("default page: %d items, next %v; want 100 items and the last one's position", len(first.Items), first.NextCursor)
	}
	rest := getLog(t, srv, url.Values{"after": {*first.NextCursor}})
	if len(rest.Items) != 50 || rest.NextCursor != nil {
		t.Fatalf("second page: %d items, next %v; want 50 and null at the head", len(rest.Items), rest.NextCursor)
	}
	if rest.Items[0].StreamID != "execution-100" {
		t.Errorf("second page starts with %s, want execution-100", rest.Items[0].StreamID)
	}
	all := getLog(t, srv, url.Values{"limit": {"1000"}})
	if len(all.Items) != 150 || all.NextCursor != nil {
		t.Fatalf("page of up to 1000: %d items, next %v; want 150 and null", len(all.Items), all.NextCursor)
	}
	exact := getLog(t, srv, url.Values{"limit": {"50"}, "after": {all.Items[99].Position}})
	if len(exact.Items) != 50 || exact.NextCursor == nil {
		t.Fatalf("a full page at the head: %d items, next %v; want 50 and a cursor (more may follow)", len(exact.Items), exact.NextCursor)
	}
	if empty := getLog(t, srv, url.Values{"after": {*exact.NextCursor}}); len(empty.Items) != 0 || empty.NextCursor != nil {
		t.Fatalf("after the head: %d items, next %v; want none and null", len(empty.Items), empty.NextCursor)
	}
}

func TestLogRejectsBadParameters(t *testing.T) {
	t.Parallel()
	srv := feedServer(t, newMemStore(t))
	for _, tc := range []struct{ query, field string }{
		{"after=7", "after"},
		{"after=1-x", "after"},
		{"limit=0", "limit"},
		{"limit=1001", "limit"},
		{"limit=ten", "limit"},
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/log?"+tc.query, nil)
		wantError(t, srv, req, http.StatusBadRequest, httpapi.CodeBadRequest, tc.field)
	}
}
