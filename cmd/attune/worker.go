package main

import (
	"errors"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/attune-go/attune/adapters/runtime/contain"
	"github.com/attune-go/attune/adapters/runtime/packenv"
	"github.com/attune-go/attune/adapters/runtime/st2"
	"github.com/attune-go/attune/adapters/secret"
	"github.com/attune-go/attune/cmd/attune/app"
)

// workerFlags configure a worker, embedded in serve or on its own.
type workerFlags struct {
	runtimes       string
	name           string
	maxConcurrency int
	packsDir       string
	runsDir        string
	heartbeat      time.Duration
	contain        contain.Config
	packEnvDir     string
	packEnvTimeout time.Duration
	ssh            st2.SSHConfig
}

func (f *workerFlags) bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.runtimes, "runtimes", os.Getenv("ATTUNE_WORKER_RUNTIMES"), "runtimes this worker offers, comma-separated (shell, python, node, builtin; aliases sh, bash, python3, nodejs); default: all found on this host (ATTUNE_WORKER_RUNTIMES)")
	fs.StringVar(&f.name, "worker-name", "", "name shown for this worker (default: the host name)")
	fs.IntVar(&f.maxConcurrency, "max-concurrency", 0, "executions run at once (default: number of CPUs, at least 2)")
	fs.StringVar(&f.packsDir, "packs-dir", os.Getenv("ATTUNE_PACKS_DIR"), "where this host keeps packs (<dir>/<pack>/actions/…), if not where they were registered from (ATTUNE_PACKS_DIR)")
	fs.StringVar(&f.runsDir, "runs-dir", os.Getenv("ATTUNE_RUNS_DIR"), "where this host records the action processes under way, so that a worker started after one was killed kills what it left (ATTUNE_RUNS_DIR; default $XDG_STATE_HOME/attune/runs or ~/.local/state/attune/runs)")
	fs.StringVar(&f.packEnvDir, "pack-env-dir", os.Getenv("ATTUNE_PACK_ENV_DIR"), "where this host builds the packs' virtualenvs (requirements.txt) and node_modules (package.json), with their build logs (ATTUNE_PACK_ENV_DIR; default $XDG_STATE_HOME/attune/packenv or ~/.local/state/attune/packenv)")
	fs.DurationVar(&f.packEnvTimeout, "pack-env-timeout", packenv.DefaultTimeout, "longest a pack's virtualenv or npm install may take to build; past it the build fails and so do the pack's python or node actions")
	fs.StringVar(&f.ssh.KnownHosts, "ssh-known-hosts", os.Getenv("ATTUNE_SSH_KNOWN_HOSTS"), "known_hosts file the remote runners (remote-shell-cmd, remote-shell-script) check host keys against; a host not in it is refused (ATTUNE_SSH_KNOWN_HOSTS; default ~/.ssh/known_hosts)")
	fs.StringVar(&f.ssh.User, "ssh-user", os.Getenv("ATTUNE_SSH_USER"), "user the remote runners log in as when an action gives no username (ATTUNE_SSH_USER; default the worker's own user)")
	fs.StringVar(&f.ssh.KeyFile, "ssh-key-file", os.Getenv("ATTUNE_SSH_KEY_FILE"), "private key the remote runners log in with when an action gives neither password nor private_key, as StackStorm's [system_user] ssh_key_file (ATTUNE_SSH_KEY_FILE)")
	fs.DurationVar(&f.heartbeat, "heartbeat-interval", 0, "how often the worker reports it is alive (default 2s)")
	fs.StringVar(&f.contain.RunAs, "run-as", os.Getenv("ATTUNE_RUN_AS"), "the unprivileged user actions run as (ATTUNE_RUN_AS; scripts/services.sh creates attune-run); a root worker needs it, or --allow-root-actions")
	fs.BoolVar(&f.contain.AllowRoot, "allow-root-actions", os.Getenv("ATTUNE_ALLOW_ROOT_ACTIONS") == "true", "let a root worker run actions as root: a throw-away machine only (ATTUNE_ALLOW_ROOT_ACTIONS=true)")
	fs.IntVar(&f.contain.MaxProcs, "action-max-procs", contain.DefaultMaxProcs, "most processes of the actions' user at once (RLIMIT_NPROC; a fork bomb stops there)")
	fs.IntVar(&f.contain.MaxOpenFiles, "action-max-open-files", contain.DefaultMaxOpenFiles, "most files an action process may have open (RLIMIT_NOFILE)")
	fs.StringVar(&f.contain.Cgroup, "action-cgroup", os.Getenv("ATTUNE_ACTION_CGROUP"), "cgroup v2 directory the actions' cells are made in; default: under the worker's own cgroup when writable; \"off\": process groups only (ATTUNE_ACTION_CGROUP)")
}

func (f *workerFlags) config() app.WorkerConfig {
	var rts []string
	for _, r := range strings.Split(f.runtimes, ",") {
		if r = strings.TrimSpace(r); r != "" {
			rts = append(rts, r)
		}
	}
	ssh := f.ssh
	if ssh.User == "" {
		if u, err := user.Current(); err == nil {
			ssh.User = u.Username
		}
	}
	return app.WorkerConfig{Runtimes: rts, Name: f.name, MaxConcurrency: f.maxConcurrency, PacksDir: f.packsDir, RunsDir: f.runsDir, HeartbeatInterval: f.heartbeat, Contain: f.contain,
		SSH: ssh}
}

// packEnvs configures the builds of the packs' dependency environments.
func (f *workerFlags) packEnvs() packenv.Config {
	return packenv.Config{Dir: f.packEnvDir, Timeout: f.packEnvTimeout}
}

func workerCommand(cfg *config) *cobra.Command {
	var wf workerFlags
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a worker as its own process: it takes executions from RabbitMQ and runs them",
		Long: "Registers a worker with the runtimes it offers, heartbeats, runs what the scheduler\n" +
			"sends it and reports every status change to the log. Needs RabbitMQ (--amqp-url) and the\n" +
			"database; SIGINT/SIGTERM stop it cleanly after its runs end.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pool, err := openDatabase(cmd.Context(), *cfg, asRole("worker"))
			if err != nil {
				return err
			}
			defer pool.Close()
			box, err := secret.Load(cfg.SecretKeyFile, false)
			if err != nil && !errors.Is(err, secret.ErrNoKey) {
				return err
			}
			log := newLogger(*cfg, cmd.ErrOrStderr())
			if box == nil {
				log.Warn("no secret key: executions with secret parameters will fail on this worker", "error", err)
			}
			return app.RunWorker(cmd.Context(), app.Config{
				Pool: pool, AMQPURL: cfg.AMQPURL, BusPrefix: cfg.BusPrefix, BusQueueExpiry: cfg.BusQueueExpiry, Logger: log, Box: box,
				PackEnvs: wf.packEnvs(),
			}, wf.config())
		},
	}
	cfg.bindDatabase(cmd.Flags())
	cfg.bindServer(cmd.Flags())
	wf.bind(cmd.Flags())
	return cmd
}
