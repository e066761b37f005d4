package main

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/attune-go/attune/adapters/postgres"
	"github.com/attune-go/attune/adapters/secret"
)

// config is what every command may need; each field has a flag and an ATTUNE_* variable, and
// the flag wins.
type config struct {
	DatabaseURL string
	Schema      string
	// DBMaxConns caps the process's connection pool (0: postgres.DefaultMaxConns, or
	// pool_max_conns in the URL).
	DBMaxConns int
	AMQPURL    string
	BusPrefix  string
	// BusQueueExpiry deletes RabbitMQ queues unused this long (0: never).
	BusQueueExpiry time.Duration
	HTTPAddr       string
	LogLevel       string
	LogFormat      string
	// SecretKeyFile holds the key that seals secret parameters, created on first start
	// unless ATTUNE_SECRET_KEY gives the key itself.
	SecretKeyFile string
}

func configFromEnv() config {
	return config{
		DatabaseURL:    cmp.Or(os.Getenv("ATTUNE_DATABASE_URL"), postgres.DefaultURL),
		Schema:         os.Getenv("ATTUNE_DATABASE_SCHEMA"),
		DBMaxConns:     envInt("ATTUNE_DB_MAX_CONNS"),
		AMQPURL:        os.Getenv("ATTUNE_AMQP_URL"),
		BusPrefix:      os.Getenv("ATTUNE_BUS_PREFIX"),
		BusQueueExpiry: envDuration("ATTUNE_BUS_QUEUE_EXPIRY"),
		HTTPAddr:       cmp.Or(os.Getenv("ATTUNE_HTTP_ADDR"), "127.0.0.1:8080"),
		LogLevel:       cmp.Or(os.Getenv("ATTUNE_LOG_LEVEL"), "info"),
		LogFormat:      cmp.Or(os.Getenv("ATTUNE_LOG_FORMAT"), "text"),
		SecretKeyFile:  secret.DefaultKeyPath(),
	}
}

func (c *config) bindDatabase(fs *pflag.FlagSet) {
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "PostgreSQL URL (ATTUNE_DATABASE_URL)")
	fs.StringVar(&c.Schema, "schema", c.Schema, "PostgreSQL schema to use instead of the default search_path (ATTUNE_DATABASE_SCHEMA)")
	fs.IntVar(&c.DBMaxConns, "db-max-conns", c.DBMaxConns, fmt.Sprintf("most pooled PostgreSQL connections of this process; leader-lock and LISTEN sessions come on top (ATTUNE_DB_MAX_CONNS; default %d)", postgres.DefaultMaxConns))
}

// envDuration reads a duration (90s, 10m) from the environment; a malformed one becomes -1,
// which validate refuses with the variable's name.
func envDuration(name string) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return -1
	}
	return d
}

// envInt reads a whole number from the environment; a malformed value becomes -1, which
// validate refuses with the variable's name rather than silently using the default.
func envInt(name string) int {
	v := os.Getenv(name)
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

func (c *config) bindServer(fs *pflag.FlagSet) {
	fs.StringVar(&c.AMQPURL, "amqp-url", c.AMQPURL, "RabbitMQ URL; empty runs the bus in process (ATTUNE_AMQP_URL)")
	fs.StringVar(&c.BusPrefix, "bus-prefix", c.BusPrefix, "prefix of every RabbitMQ exchange and queue, to share a broker (ATTUNE_BUS_PREFIX)")
	fs.DurationVar(&c.BusQueueExpiry, "bus-queue-expiry", c.BusQueueExpiry, "have RabbitMQ delete a queue once unused this long, for throw-away deployments and tests; 0 keeps queues (ATTUNE_BUS_QUEUE_EXPIRY)")
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "address of the HTTP API and health checks (ATTUNE_HTTP_ADDR)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error (ATTUNE_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json (ATTUNE_LOG_FORMAT)")
	fs.StringVar(&c.SecretKeyFile, "secret-key-file", c.SecretKeyFile, "file of the key that seals secret parameters, created if missing (ATTUNE_SECRET_KEY_FILE; ATTUNE_SECRET_KEY gives the key itself)")
}

// validate reports every problem at once, before anything connects.
func (c config) validate() error {
	var errs []error
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		errs = append(errs, fmt.Errorf("database URL must be postgres://…, got %q", redactURL(c.DatabaseURL)))
	}
	if c.DBMaxConns < 0 || (c.DBMaxConns > 0 && c.DBMaxConns < postgres.MinMaxConns) {
		errs = append(errs, fmt.Errorf("database max connections (--db-max-conns, ATTUNE_DB_MAX_CONNS) must be a whole number ≥ %d, got %s", postgres.MinMaxConns, cmp.Or(os.Getenv("ATTUNE_DB_MAX_CONNS"), fmt.Sprint(c.DBMaxConns))))
	}
	if c.BusQueueExpiry < 0 {
		errs = append(errs, fmt.Errorf("bus queue expiry (--bus-queue-expiry, ATTUNE_BUS_QUEUE_EXPIRY) must be a duration like 10m, got %q", os.Getenv("ATTUNE_BUS_QUEUE_EXPIRY")))
	}
	if c.AMQPURL != "" {
		if u, err := url.Parse(c.AMQPURL); err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") || u.Host == "" {
			errs = append(errs, fmt.Errorf("AMQP URL must be amqp://user:pass@host:port/, got %q", redactURL(c.AMQPURL)))
		}
	}
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			errs = append(errs, fmt.Errorf("HTTP address %q: want host:port", c.HTTPAddr))
		}
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log format %q: want text or json", c.LogFormat))
	}
	return errors.Join(errs...)
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if strings.Contains(raw, "@") {
			return "(unparseable URL)"
		}
		return raw
	}
	return u.Redacted()
}
