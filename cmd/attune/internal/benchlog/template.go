package benchlog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"io/fs"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/oklog/ulid/v2"
	"golang.org/x/sync/errgroup"

	"github.com/attune-go/attune/adapters/checkpoint"
	"github.com/attune-go/attune/adapters/eventstore"
	"github.com/attune-go/attune/adapters/pgstore"
	"github.com/attune-go/attune/adapters/postgres"
	"github.com/attune-go/attune/adapters/readmodel"
	"github.com/attune-go/attune/adapters/relay"
	"github.com/attune-go/attune/projections"
	"github.com/attune-go/attune/schemas"
)

// Schema is the schema of the template and its clones that holds the log and read models.
const Schema = "attune"

// generatorVersion changes whenever generate writes a different log, so that a template
// built by an older generator is rebuilt rather than reused.
const generatorVersion = "1"

// clonePrefix names the per-run copies; the ULID after it dates them for the sweep.
const clonePrefix = "attune_bench_run_"

// staleClone is when a clone is surely left over by a killed run.
const staleClone = 6 * time.Hour

// Log is a database holding a prefilled log, for one run.
type Log struct {
	URL      string // the clone's URL (the server's, another database); its schema is Schema
	Database string
	Events   int           // events in the log when cloned
	Built    time.Duration // time spent building the template this time (0: it was cached)
	Cloned   time.Duration // time the clone took
}

// Logf reports progress (testing.TB.Logf fits).
type Logf func(format string, args ...any)

// Clone returns a fresh database holding a log of about events events, made from the
// cached template (built first if missing or stale: a minute or so per million events). The
// caller drops it with Drop. serverURL is any database URL of the server; its user must be
// allowed to create databases.
func Clone(ctx context.Context, serverURL string, events int, logf Logf) (*Log, error) {
	admin, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return nil, fmt.Errorf("benchlog: connect to %s: %w", serverURL, err)
	}
	defer admin.Close(context.Background())
	sweepClones(ctx, admin, logf)
	name := TemplateName(events)
	// One builder at a time per template, across processes.
	if _, err := admin.Exec(ctx, `SELECT pg_advisory_lock($1)`, lockKey(name)); err != nil {
		return nil, fmt.Errorf("benchlog: lock template %s: %w", name, err)
	}
	defer func() { _, _ = admin.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, lockKey(name)) }()
	var ready bool
	err = admin.QueryRow(ctx, `SELECT datistemplate FROM pg_database WHERE datname = $1`, name).Scan(&ready)
	if err != nil && err != pgx.ErrNoRows {
		return nil, fmt.Errorf("benchlog: look up template %s: %w", name, err)
	}
	l := &Log{}
	if !ready {
		start := time.Now()
		if err := build(ctx, admin, serverURL, name, events, logf); err != nil {
			return nil, err
		}
		l.Built = time.Since(start)
	}
	if err := admin.QueryRow(ctx, `SELECT split_part(shobj_description(oid, 'pg_database'), ' ', 1)::int FROM pg_database WHERE datname = $1`, name).Scan(&l.Events); err != nil {
		return nil, fmt.Errorf("benchlog: read the size of template %s: %w", name, err)
	}
	l.Database = clonePrefix + strings.ToLower(ulid.Make().String())
	start := time.Now()
	// FILE_COPY copies the files after a checkpoint: seconds for a gigabyte, where the default
	// (WAL_LOG) writes all of it to the WAL.
	if _, err := admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s STRATEGY FILE_COPY`,
		pgx.Identifier{l.Database}.Sanitize(), pgx.Identifier{name}.Sanitize())); err != nil {
		return nil, fmt.Errorf("benchlog: clone %s: %w", name, err)
	}
	l.Cloned = time.Since(start)
	if l.URL, err = WithDatabase(serverURL, l.Database); err != nil {
		return nil, err
	}
	logf("benchlog: cloned %s (%d events) into %s in %s", name, l.Events, l.Database, l.Cloned.Round(time.Millisecond))
	return l, nil
}

// Drop removes the clone (its sessions are ended first).
func (l *Log) Drop(ctx context.Context, serverURL string) error {
	admin, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return fmt.Errorf("benchlog: connect to drop %s: %w", l.Database, err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{l.Database}.Sanitize()+` WITH (FORCE)`); err != nil {
		return fmt.Errorf("benchlog: drop %s: %w", l.Database, err)
	}
	return nil
}

// TemplateName is the template database of a log of events events for this version of the
// schema, the projections and the generator.
func TemplateName(events int) string {
	return fmt.Sprintf("attune_bench_%d_%s", events, fingerprint())
}

// fingerprint changes with the migrations, the set of projections and the generator: a
// template made before any of them changed would make a server catch up or migrate at
// start, which is not what the benchmark measures.
func fingerprint() string {
	h := sha256.New()
	h.Write([]byte(generatorVersion))
	_ = fs.WalkDir(schemas.Migrations, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := fs.ReadFile(schemas.Migrations, path)
		h.Write([]byte(path))
		h.Write(b)
		return nil
	})
	for _, p := range projections.All() {
		h.Write([]byte(p.Name))
	}
	return hex.EncodeToString(h.Sum(nil))[:10]
}

func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("attune-benchlog/" + name))
	return int64(h.Sum64() >> 1)
}

// build makes the template: a database, the schema migrated, the log generated, every
// projection caught up, the relay's checkpoint at the head; then marks it a template. An
// older template of the same size (another fingerprint) is dropped: they are big.
func build(ctx context.Context, admin *pgx.Conn, serverURL, name string, events int, logf Logf) error {
	start := time.Now()
	logf("benchlog: building template %s with %d events (once; later runs clone it)", name, events)
	q := pgx.Identifier{name}.Sanitize()
	// A database left by a build that was killed: not a template yet, so not trusted.
	if _, err := admin.Exec(ctx, `DROP DATABASE IF EXISTS `+q+` WITH (FORCE)`); err != nil {
		return fmt.Errorf("benchlog: drop unfinished %s: %w", name, err)
	}
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+q); err != nil {
		return fmt.Errorf("benchlog: create %s: %w", name, err)
	}
	dbURL, err := WithDatabase(serverURL, name)
	if err != nil {
		return err
	}
	if err := postgres.EnsureSchema(ctx, dbURL, Schema); err != nil {
		return err
	}
	pool, err := postgres.ConnectWith(ctx, dbURL, Schema, postgres.PoolOptions{MaxConns: 4, AppName: "attune-benchlog"})
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := postgres.Migrate(ctx, pool); err != nil {
		return err
	}
	n, err := generate(ctx, pool, events)
	if err != nil {
		return fmt.Errorf("benchlog: generate the log of %s: %w", name, err)
	}
	logf("benchlog: %d events written in %s", n, time.Since(start).Round(time.Second))
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE events`); err != nil {
		return fmt.Errorf("benchlog: analyze the log: %w", err)
	}
	store, err := pgstore.New(ctx, pool, pgstore.Config{})
	if err != nil {
		return err
	}
	models := readmodel.New(pool)
	// Two projections at a time: most of the work is PostgreSQL's, on two cores.
	var (
		mu   sync.Mutex
		head eventstore.Position
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	for _, p := range projections.All() {
		g.Go(func() error {
			t := time.Now()
			at, err := projections.CatchUp(gctx, store, models, p, eventstore.Start)
			if err != nil {
				return fmt.Errorf("benchlog: project %s: %w", p.Name, err)
			}
			mu.Lock()
			if head.Less(at) {
				head = at
			}
			mu.Unlock()
			logf("benchlog: projection %s caught up in %s", p.Name, time.Since(t).Round(time.Millisecond))
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	// The relay has published everything already: a server started on a clone relays only
	// what it appends itself, as one that had run all along would.
	if err := checkpoint.NewPostgres(pool).Save(ctx, relay.Name, head); err != nil {
		return fmt.Errorf("benchlog: set the relay's checkpoint: %w", err)
	}
	if _, err := pool.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		return fmt.Errorf("benchlog: analyze: %w", err)
	}
	pool.Close()
	if _, err := admin.Exec(ctx, fmt.Sprintf(`COMMENT ON DATABASE %s IS '%d events, generator %s'`, q, n, generatorVersion)); err != nil {
		return fmt.Errorf("benchlog: label %s: %w", name, err)
	}
	if _, err := admin.Exec(ctx, `ALTER DATABASE `+q+` IS_TEMPLATE true`); err != nil {
		return fmt.Errorf("benchlog: mark %s a template: %w", name, err)
	}
	dropOlder(ctx, admin, name, events, logf)
	logf("benchlog: template %s ready in %s", name, time.Since(start).Round(time.Second))
	return nil
}

// dropOlder drops the templates of the same size that an older fingerprint made.
func dropOlder(ctx context.Context, admin *pgx.Conn, keep string, events int, logf Logf) {
	rows, err := admin.Query(ctx, `SELECT datname FROM pg_database WHERE starts_with(datname, $1) AND datname <> $2`,
		fmt.Sprintf("attune_bench_%d_", events), keep)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, n := range names {
		q := pgx.Identifier{n}.Sanitize()
		_, _ = admin.Exec(ctx, `ALTER DATABASE `+q+` IS_TEMPLATE false`)
		if _, err := admin.Exec(ctx, `DROP DATABASE IF EXISTS `+q+` WITH (FORCE)`); err == nil {
			logf("benchlog: dropped the outdated template %s", n)
		}
	}
}

// sweepClones drops clones that killed runs left behind.
func sweepClones(ctx context.Context, admin *pgx.Conn, logf Logf) {
	rows, err := admin.Query(ctx, `SELECT datname FROM pg_database WHERE starts_with(datname, $1)`, clonePrefix)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, n := range names {
		id, err := ulid.ParseStrict(strings.ToUpper(strings.TrimPrefix(n, clonePrefix)))
		if err != nil || time.Since(ulid.Time(id.Time())) < staleClone {
			continue
		}
		if _, err := admin.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{n}.Sanitize()+` WITH (FORCE)`); err == nil {
			logf("benchlog: dropped %s, left by a killed run", n)
		}
	}
}

// WithDatabase returns serverURL naming database db instead.
func WithDatabase(serverURL, db string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil || u.Scheme == "" {
		return "", fmt.Errorf("benchlog: database URL %q: want postgres://user@host:port/db", serverURL)
	}
	u.Path = "/" + db
	return u.String(), nil
}
