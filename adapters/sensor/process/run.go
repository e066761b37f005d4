package process

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/attune-go/attune/adapters/runtime/contain"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// drainTimeout bounds the wait for stdout to close once the process group is gone: only a
// descendant that left the group (setsid) can still hold it open.
const drainTimeout = 2 * time.Second

// runOnce starts the sensor's process, turns its stdout lines into events until it exits,
// and makes sure the whole process group is gone before returning. When ctx ends it sends
// SIGTERM to the group, then SIGKILL after StopGrace.
func (s *Supervisor) runOnce(ctx context.Context, sn Sensor, log *slog.Logger) error {
	if err := checkScript(sn); err != nil {
		return err
	}
	stdin, err := stdinDocument(sn)
	if err != nil {
		return err
	}
	var cell *contain.Cell
	if s.cfg.Sandbox != nil {
		if cell, err = s.cfg.Sandbox.Prepare("sensor-" + sn.Sensor.Ref); err != nil {
			return fmt.Errorf("start sensor %s: contain it: %w", sn.Sensor.Ref, err)
		}
		defer cell.Close() // kills whatever the sensor left in its cell
	}
	interp := s.cfg.Interpreters[sn.Sensor.RunnerType]
	bin := sn.Interpreter
	if bin == "" {
		if bin, err = lookPath(interp[0], s.cfg.Env); err != nil {
			return fmt.Errorf("start sensor %s: find %s: %w", sn.Sensor.Ref, interp[0], err)
		}
	}
	program := cmp.Or(sn.Wrapper, sn.Script)
	outR, outW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("start sensor %s: stdout pipe: %w", sn.Sensor.Ref, err)
	}
	defer outR.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		outW.Close()
		return fmt.Errorf("start sensor %s: stderr pipe: %w", sn.Sensor.Ref, err)
	}
	defer errR.Close()

	// exec.Command, not CommandContext: stopping is our SIGTERM-then-SIGKILL of the group,
	// not a SIGKILL of the leader alone.
	cmd := exec.Command(bin, append(slices.Clone(interp[1:]), program)...)
	cmd.Dir = filepath.Dir(sn.Script)
	cmd.Env = append(slices.Clone(s.cfg.Env), sn.Env...)
	if cell != nil {
		cmd.Env = append(cmd.Env, "HOME="+cell.Home)
	}
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = outW, errW
	cmd.SysProcAttr = groupAttr() // its own group, killed with the engine (sysproc_linux.go)
	if cell != nil {
		cell.Apply(cmd)
	}
	// A descendant that keeps the stdin pipe open without reading must not hang Wait.
	cmd.WaitDelay = drainTimeout
	err = cmd.Start()
	// The child holds its own copies; ours must close or the reads below never see EOF.
	outW.Close()
	errW.Close()
	if err != nil {
		return fmt.Errorf("start sensor %s: %w", sn.Sensor.Ref, err)
	}
	pgid := cmd.Process.Pid // Setpgid: the leader's pid is the group id
	s.updateStatus(sn.Sensor.Ref, func(st *Status) { st.Running, st.PID = true, pgid; st.Starts++ })
	log.Info("sensor started", slog.Int("pid", pgid))

	reading := make(chan struct{})
	go func() {
		defer close(reading)
		s.readEvents(ctx, sn, outR, log)
	}()
	logging := make(chan struct{})
	go func() {
		defer close(logging)
		logStderr(errR, log)
	}()

	exited := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-exited:
		case <-ctx.Done():
			stopGroup(pgid, s.cfg.StopGrace, exited, log)
		}
	}()
	waitErr := cmd.Wait()
	close(exited)
	<-stopped
	// Whatever the leader left behind in its group (or its cell) goes with it.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	if cell != nil {
		cell.Kill()
	}
	for _, ch := range []chan struct{}{reading, logging} {
		select {
		case <-ch:
		case <-time.After(drainTimeout):
			log.Warn("a process outside the sensor's group holds its output open; closing it")
			outR.Close()
			errR.Close()
			<-ch
		}
	}
	if waitErr != nil {
		return fmt.Errorf("sensor %s: %w", sn.Sensor.Ref, waitErr)
	}
	return errors.New("sensor exited")
}

// stopGroup sends SIGTERM to the group and SIGKILL if the leader is still there after grace.
func stopGroup(pgid int, grace time.Duration, exited <-chan struct{}, log *slog.Logger) {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
		log.Warn("sensor ignored SIGTERM; killing it", slog.Duration("grace", grace))
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// checkScript refuses a script whose content is not what the pack registered.
func checkScript(sn Sensor) error {
	want := sn.Sensor.EntryPointSHA256
	if want == "" {
		return nil
	}
	data, err := os.ReadFile(sn.Script)
	if err != nil {
		return fmt.Errorf("sensor %s: read entry point: %w", sn.Sensor.Ref, err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != want {
		return fmt.Errorf("sensor %s: %s changed since the pack was registered (sha256 %s, registered %s): load the pack again", sn.Sensor.Ref, sn.Script, got, want)
	}
	return nil
}

// stdinDocument is what the sensor reads on stdin.
func stdinDocument(sn Sensor) ([]byte, error) {
	config := sn.Config
	if len(bytes.TrimSpace(config)) == 0 {
		config = json.RawMessage(`{}`)
	}
	triggers := sn.Sensor.Triggers
	if triggers == nil {
		triggers = []string{}
	}
	doc := struct {
		Sensor       string          `json:"sensor"`
		Triggers     []string        `json:"triggers"`
		PollInterval int             `json:"poll_interval,omitempty"`
		Config       json.RawMessage `json:"config"`
		// For the wrapper of a StackStorm sensor class: where the class is, and the rules'
		// instances of its parameterised triggers.
		EntryPoint string     `json:"entry_point,omitempty"`
		ClassName  string     `json:"class_name,omitempty"`
		Instances  []Instance `json:"trigger_instances,omitempty"`
	}{Sensor: sn.Sensor.Ref, Triggers: triggers, PollInterval: sn.Sensor.PollIntervalSeconds, Config: config}
	if sn.Wrapper != "" {
		doc.EntryPoint, doc.ClassName, doc.Instances = sn.Script, sn.Sensor.ClassName, sn.Instances
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("sensor %s: encode its stdin (is the pack config JSON?): %w", sn.Sensor.Ref, err)
	}
	return append(data, '\n'), nil
}

// logStderr logs what the sensor writes on stderr, line by line, capped.
func logStderr(r io.Reader, log *slog.Logger) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		log.Info("sensor stderr", slog.String("line", sc.Text()))
	}
	// A line over the cap ends the scan; keep draining so the sensor never blocks on a full pipe.
	_, _ = io.Copy(io.Discard, r)
}

// lookPath finds name on the PATH of env (the sensor's environment), not the server's.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return exec.LookPath(name)
	}
	for _, kv := range env {
		if dirs, ok := strings.CutPrefix(kv, "PATH="); ok {
			for _, dir := range filepath.SplitList(dirs) {
				p := filepath.Join(dir, name)
				if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
					return p, nil
				}
			}
			return "", fmt.Errorf("%s: not found on %s", name, dirs)
		}
	}
	return exec.LookPath(name)
}
