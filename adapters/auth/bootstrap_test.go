package auth_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/attune-go/attune/adapters/auth"
	"github.com/attune-go/attune/adapters/auth/clientconfig"
)

func TestBootstrapCreatesOneAdminTokenAndWritesItForTheCLI(t *testing.T) {
	t.Parallel()
	store, _ := setup(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "xdg", "attune", "config.yaml")

	got, created, err := auth.Bootstrap(ctx, store, path, "http://127.0.0.1:8080")
	if err != nil || !created || got != path {
		t.Fatalf("first Bootstrap = %q, %v, %v; want %q, true, nil", got, created, err, path)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("config file mode %o, want 600: it holds an admin token", perm)
	}
	file, err := clientconfig.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if file.URL != "http://127.0.0.1:8080" {
		t.Errorf("config url = %q", file.URL)
	}
	p, err := store.Authenticate(ctx, file.Token)
	if err != nil || p.Role != auth.Admin || p.Name != "bootstrap-admin" {
		t.Fatalf("the written token authenticates as %+v, %v; want admin bootstrap-admin", p, err)
	}

	// Every later start finds the admin and leaves the file alone.
	before, _ := os.ReadFile(path)
	if _, created, err := auth.Bootstrap(ctx, store, path, "http://elsewhere:1"); err != nil || created {
		t.Errorf("second Bootstrap: created %v, err %v; want nothing done", created, err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Errorf("second Bootstrap rewrote the file:\n%s", after)
	}

	// With every admin revoked, the next start makes a new one, so the server is never
	// left without an administrator.
	if _, err := store.Revoke(ctx, p.TokenID, "test"); err != nil {
		t.Fatal(err)
	}
	if _, created, err := auth.Bootstrap(ctx, store, path, "http://127.0.0.1:8080"); err != nil || !created {
		t.Fatalf("Bootstrap after revoking the admin: created %v, err %v", created, err)
	}
	file, _ = clientconfig.Load(path)
	if p2, err := store.Authenticate(ctx, file.Token); err != nil || p2.TokenID == p.TokenID {
		t.Errorf("new bootstrap token: %+v, %v", p2, err)
	}
}

func TestConcurrentBootstrapsCreateOneToken(t *testing.T) {
	t.Parallel()
	store, _ := setup(t)
	dir := t.TempDir()
	const starts = 4
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		created int
	)
	for i := range starts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, c, err := auth.Bootstrap(context.Background(), store, filepath.Join(dir, string(rune('a'+i)), "config.yaml"), "http://x:1")
			if err != nil {
				t.Errorf("Bootstrap: %v", err)
			}
			if c {
				mu.Lock()
				created++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	tokens, err := store.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if created != 1 || len(tokens) != 1 {
		t.Errorf("%d concurrent starts created %d tokens (%d in the table), want 1", starts, created, len(tokens))
	}
}
