package main

import (
	"cmp"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/attune-go/attune/adapters/liveoutput"
	"github.com/attune-go/attune/adapters/packloader"
	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/cmd/attune/app"
	"github.com/attune-go/attune/handlers/admission"
	"github.com/attune-go/attune/handlers/reaper"
)

func serveCommand(cfg *config) *cobra.Command {
	var (
		packs        []string
		noWorker     bool
		noAuth       bool
		clientConfig string
		readyMaxLag  string
		maxPaused    time.Duration
		queueWait    time.Duration
		outputTTL    time.Duration
		wf           workerFlags
		packLimits   packloader.Limits
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run every role in one process: relay, projectors, handlers, HTTP",
		Long: "Migrates the database, then runs the relay, the projectors, the handlers and the HTTP\n" +
			"server (GET /healthz, GET /readyz) until interrupted. The bus runs in process unless\n" +
			"--amqp-url (ATTUNE_AMQP_URL) names a RabbitMQ server.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			maxLag, err := time.ParseDuration(readyMaxLag)
			if err != nil || maxLag <= 0 {
				return fmt.Errorf("ready max lag %q (--ready-max-lag, ATTUNE_READY_MAX_LAG): want a positive duration such as 30s", readyMaxLag)
			}
			if queueWait <= 0 {
				return fmt.Errorf("policy queue deadline %s (--policy-queue-deadline): want a positive duration such as 24h", queueWait)
			}
			if outputTTL <= 0 {
				return fmt.Errorf("output TTL %s (--output-ttl): want a positive duration such as 5m", outputTTL)
			}
			pool, err := openDatabase(cmd.Context(), *cfg, withSchemaCreated(), asRole("serve"))
			if err != nil {
				return err
			}
			defer pool.Close()
			box, err := secret.Load(cfg.SecretKeyFile, true)
			if err != nil {
				return err
			}
			return app.Run(cmd.Context(), app.Config{
				Packs:          packs,
				PackLimits:     packLimits,
				Contain:        wf.contain,
				PackEnvs:       wf.packEnvs(),
				Worker:         embeddedWorker(noWorker, wf),
				NoAuth:         noAuth,
				ClientConfig:   clientConfig,
				Box:            box,
				Pool:           pool,
				AMQPURL:        cfg.AMQPURL,
				BusPrefix:      cfg.BusPrefix,
				BusQueueExpiry: cfg.BusQueueExpiry,
				HTTPAddr:       cfg.HTTPAddr,
				ReadyMaxLag:    maxLag,
				MaxPaused:      maxPaused,
				QueueDeadline:  queueWait,
				OutputTTL:      outputTTL,
				Logger:         newLogger(*cfg, cmd.ErrOrStderr()),
			})
		},
	}
	cfg.bindDatabase(cmd.Flags())
	cfg.bindServer(cmd.Flags())
	cmd.Flags().StringArrayVar(&packs, "pack", nil, "pack directory to load at start-up (repeatable)")
	cmd.Flags().BoolVar(&noWorker, "no-worker", false, "run no worker in this process (workers then run as separate attune worker processes)")
	cmd.Flags().BoolVar(&noAuth, "no-auth", false, "serve the API without access control (a development machine only)")
	cmd.Flags().StringVar(&clientConfig, "config", os.Getenv("ATTUNE_CONFIG"), "CLI config file the first start writes the admin token to (ATTUNE_CONFIG; default ~/.config/attune/config.yaml)")
	cmd.Flags().StringVar(&readyMaxLag, "ready-max-lag", cmp.Or(os.Getenv("ATTUNE_READY_MAX_LAG"), app.DefaultReadyMaxLag.String()),
		"GET /readyz answers 503 when the relay or a projection is this far behind the log (ATTUNE_READY_MAX_LAG)")
	cmd.Flags().DurationVar(&queueWait, "policy-queue-deadline", admission.DefaultQueueDeadline,
		"how long an execution may wait in a concurrency or rate-limit policy's queue before it fails")
	wf.bind(cmd.Flags())
	cmd.Flags().DurationVar(&outputTTL, "output-ttl", liveoutput.DefaultTTL, "how long an execution's live output (GET /api/v1/executions/{id}/output) stays readable after its run ended")
	cmd.Flags().DurationVar(&maxPaused, "max-paused", reaper.DefaultMaxPaused, "a workflow paused for longer than this is cancelled (the deadline of paused)")
	cmd.Flags().Int64Var(&packLimits.MaxFileBytes, "pack-max-file-bytes", packloader.DefaultMaxFileBytes, "largest file a pack may hold")
	cmd.Flags().Int64Var(&packLimits.MaxPackBytes, "pack-max-bytes", packloader.DefaultMaxPackBytes, "largest size of all a pack's files together")
	cmd.Flags().IntVar(&packLimits.MaxFiles, "pack-max-files", packloader.DefaultMaxFiles, "most files a pack may hold")
	return cmd
}

func embeddedWorker(disabled bool, wf workerFlags) *app.WorkerConfig {
	if disabled {
		return nil
	}
	wc := wf.config()
	return &wc
}
