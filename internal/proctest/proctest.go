// Package proctest runs a test binary again as worker processes, for tests
// that kill an instance with SIGKILL in the middle of its work and check
// that the others take over.
//
// The parent starts each worker with Start: the child runs one test
// function (a "process" test that skips unless its environment says it is
// a worker), which prints Ready when it works and, through Signer, a
// "signing <digest>" line before each signature so that the parent can
// time its kill.
package proctest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/cssc-go/cssc/registry"
	"github.com/cssc-go/cssc/sign"
)

// Worker is a running worker process.
type Worker struct {
	cmd *exec.Cmd

	mu      sync.Mutex
	signing int    // signatures started
	last    string // digest of the last signature started
	stopped bool
}

// Start starts the test binary as worker name, running only the test
// function run with env ("KEY=value") added to its environment, and waits
// up to a minute for it to print "ready". Its lines that say FAIL or panic
// are logged. When the test ends, a worker not killed is told to stop
// (SIGTERM) and waited for.
func Start(t *testing.T, name, run string, env ...string) *Worker {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+run+"$", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("worker %s: %v", name, err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("worker %s: %v", name, err)
	}
	w := &Worker{cmd: cmd}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			if line == "ready" {
				once.Do(func() { close(ready) })
			}
			if d, ok := strings.CutPrefix(line, "signing "); ok {
				w.mu.Lock()
				w.signing++
				w.last = d
				w.mu.Unlock()
			}
			if strings.Contains(line, "FAIL") || strings.Contains(line, "panic") {
				t.Logf("%s: %s", name, line)
			}
		}
	}()
	t.Cleanup(func() {
		if w.stop() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
		}
	})
	select {
	case <-ready:
	case <-time.After(time.Minute):
		t.Fatal("a worker did not start")
	}
	return w
}

// stop marks w stopped and reports whether it was running.
func (w *Worker) stop() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	running := !w.stopped
	w.stopped = true
	return running
}

// Signing returns how many signatures w started and the digest of the
// last one.
func (w *Worker) Signing() (int, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.signing, w.last
}

// Kill kills w with SIGKILL and waits for it to exit.
func (w *Worker) Kill() error {
	if !w.stop() {
		return nil
	}
	err := w.cmd.Process.Signal(syscall.SIGKILL)
	_ = w.cmd.Wait()
	return err
}

// Ready tells the parent that the worker works; call it in the worker
// process.
func Ready() { fmt.Println("ready") }

// Signer returns a signer for the worker process that prints "signing
// <digest>" and waits delay before each signature real makes: the window
// in which the parent kills it.
func Signer(real sign.Signer, delay time.Duration) sign.Signer {
	var out sync.Mutex
	return sign.SignerFunc(func(ctx context.Context, repo registry.Repository, subject ocispec.Descriptor) (ocispec.Descriptor, error) {
		out.Lock()
		fmt.Printf("signing %s\n", subject.Digest)
		out.Unlock()
		time.Sleep(delay)
		return real.Sign(ctx, repo, subject)
	})
}
