// Package cli is what the end-to-end test packages share to drive the
// syncfs binary: building it, running it, and deciding whether FUSE is
// there to test with.
package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncfs/syncfs/internal/testenv"
)

// Build compiles the module's commands (e.g. "cmd/syncfs") into dir and
// returns their paths, in order.
func Build(dir string, cmds ...string) ([]string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	var bins []string
	for _, c := range cmds {
		bin := filepath.Join(dir, filepath.Base(c))
		cmd := exec.Command("go", "build", "-o", bin, "./"+c)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building %s: %v\n%s", c, err, b)
		}
		bins = append(bins, bin)
	}
	return bins, nil
}

// NeedFUSE skips the test (fails it in CI) when FUSE cannot be used.
func NeedFUSE(t testing.TB) { testenv.NeedFUSE(t) }

// Result is what one run of a binary did.
type Result struct {
	Stdout, Stderr string
	Code           int
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
}

// Run runs bin with args and extra environment and returns its outcome;
// a binary that cannot be started fails the test.
func Run(t testing.TB, bin string, env []string, args ...string) Result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %s %v: %v", filepath.Base(bin), args, err)
	}
	return r
}
