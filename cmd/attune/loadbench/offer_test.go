package loadbench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// maxInFlight bounds the requests waiting for an answer; past it a request due is counted
// as skipped rather than sent late, so the offered rate stays the rate asked for or is
// reported as not offered.
const maxInFlight = 4096

// offered is what one offering sent and what the server answered.
type offered struct {
	start    time.Time
	ids      []string
	sent     int
	failed   int // no answer, or not 201/202
	skipped  int // due while maxInFlight requests waited
	firstErr string
}

// offer sends rate POST /api/v1/executions (core.noop) per second for d, open loop: each
// request is sent when it is due, whatever the answers to the earlier ones, as independent
// users would. Each carries an Idempotency-Key, as `attune run` does.
func offer(ctx context.Context, client *http.Client, base, token string, rate float64, d time.Duration) offered {
	n := int(rate * d.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		out = offered{start: time.Now()}
		sem = make(chan struct{}, maxInFlight)
	)
	for i := range n {
		if wait := time.Until(out.start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait) // pacing the load generator, not waiting for the system
		}
		select {
		case sem <- struct{}{}:
		default:
			out.skipped++
			continue
		}
		out.sent++
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			id, err := post(ctx, client, base, token)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				out.failed++
				if out.firstErr == "" {
					out.firstErr = err.Error()
				}
				return
			}
			out.ids = append(out.ids, id)
		}()
	}
	wg.Wait()
	return out
}

var runBody = []byte(`{"action":"core.noop","parameters":{}}`)

func post(ctx context.Context, client *http.Client, base, token string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/executions", bytes.NewReader(runBody))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Idempotency-Key", ulid.Make().String())
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("POST /api/v1/executions: %d %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	var x struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &x); err != nil || x.ID == "" {
		return "", fmt.Errorf("POST /api/v1/executions: answer without an id: %s", body)
	}
	return x.ID, nil
}

// newClient keeps connections open for the whole run: a client that opened a connection per
// request would measure its own handshakes.
func newClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns: maxInFlight, MaxIdleConnsPerHost: maxInFlight, IdleConnTimeout: time.Minute,
	}}
}
