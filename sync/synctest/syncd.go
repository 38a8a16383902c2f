package synctest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// SyncdPackage is the import path of the syncd command.
const SyncdPackage = "github.com/ferrysync/ferry/cmd/syncd"

// StartTimeout bounds how long Start waits for syncd's "listening on" line.
const StartTimeout = 30 * time.Second

// BuildSyncd builds the syncd command into dir and returns the binary's
// path. It runs "go build", so it must be called from inside the module.
func BuildSyncd(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "syncd")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, SyncdPackage).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build syncd: %w: %s", err, out)
	}
	return bin, nil
}

// Syncd is a syncd process that can be killed and restarted on the same
// address with the same flags.
type Syncd struct {
	// Bin is the syncd binary.
	Bin string
	// Args are the flags, --listen excluded.
	Args []string
	// Env is added to the test process's environment.
	Env []string
	// Addr is the address syncd listens on: "127.0.0.1:0" (or empty)
	// before the first Start picks a free port, then that port for every
	// restart.
	Addr string

	mu     sync.Mutex
	admin  string // the admin listener's address (AdminAddr)
	cmd    *exec.Cmd
	exited chan error
	stderr bytes.Buffer
}

// Start starts syncd and waits until it listens. Starting a process that
// runs already is an error.
func (p *Syncd) Start(ctx context.Context) error {
	p.mu.Lock()
	if p.cmd != nil {
		p.mu.Unlock()
		return errors.New("syncd: already running")
	}
	p.mu.Unlock()
	addr := p.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	// A restart may find the port still held for a moment by the killed
	// process's sockets: retry until the deadline.
	deadline := time.Now().Add(StartTimeout)
	for {
		err := p.start(ctx, addr)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// start runs syncd once with --listen addr.
func (p *Syncd) start(ctx context.Context, addr string) error {
	cmd := exec.Command(p.Bin, append([]string{"--listen", addr}, p.Args...)...)
	cmd.Env = append(os.Environ(), p.Env...)
	cmd.Stderr = &lockedWriter{mu: &p.mu, w: &p.stderr}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start syncd: %w", err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "admin listening on "); ok { // --admin
				p.mu.Lock()
				p.admin = a
				p.mu.Unlock()
				continue
			}
			select {
			case lines <- sc.Text():
			default:
			}
		}
		exited <- cmd.Wait()
		close(exited)
	}()
	t := time.NewTimer(StartTimeout)
	defer t.Stop()
	select {
	case line := <-lines:
		got, ok := strings.CutPrefix(line, "listening on ")
		if !ok {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("syncd: unexpected stdout line %q", line)
		}
		p.mu.Lock()
		p.cmd, p.exited, p.Addr = cmd, exited, got
		p.mu.Unlock()
		return nil
	case err := <-exited:
		return fmt.Errorf("syncd exited before listening: %v: %s", err, lastLine(p.Stderr()))
	case <-t.C:
		_ = cmd.Process.Kill()
		<-exited
		return errors.New("syncd did not start listening in time")
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-exited
		return ctx.Err()
	}
}

// AdminAddr returns the address of the admin listener syncd printed when
// started with --admin, "" before it has.
func (p *Syncd) AdminAddr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.admin
}

// Run starts p for the test t: it fails t when syncd does not start
// listening within StartTimeout, and kills it when t ends.
func (p *Syncd) Run(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	require.NoError(t, p.Start(ctx), p.Stderr())
	t.Cleanup(func() { _ = p.Kill() })
}

// URL is the WebSocket endpoint of the running (or last) process.
func (p *Syncd) URL() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return "ws://" + p.Addr + "/sync"
}

// Pid returns the process id of the running process, 0 when none runs.
func (p *Syncd) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Stderr returns everything syncd processes wrote on stderr so far.
func (p *Syncd) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// Kill sends SIGKILL and waits until the process is gone. Killing a
// process that is not running does nothing.
func (p *Syncd) Kill() error { return p.end(syscall.SIGKILL) }

// Stop sends SIGTERM (a graceful shutdown) and returns the exit status.
func (p *Syncd) Stop() error { return p.end(syscall.SIGTERM) }

func (p *Syncd) end(sig syscall.Signal) error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case err := <-exited:
		if sig == syscall.SIGKILL {
			return nil
		}
		return err
	case <-time.After(StartTimeout):
		_ = cmd.Process.Kill()
		return errors.New("syncd did not exit in time")
	}
}

// lockedWriter writes to w under mu.
type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
