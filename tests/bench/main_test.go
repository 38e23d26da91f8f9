package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/syncfs/syncfs/internal/miniotest"
	"github.com/syncfs/syncfs/internal/testenv"
)

// binDir holds the binaries built for this run, removed by TestMain.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "syncfs-bench-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := miniotest.Main(m) // one MinIO for the package, started on first use
	freedMemory.restore()
	os.RemoveAll(dir)
	os.Exit(code)
}

var built struct {
	once           sync.Once
	syncfs, solver string
	err            error
}

// binaries builds cmd/syncfs and cmd/fakesolver once per run (only when a
// benchmark needs them) and returns their paths. SYNCFS_BENCH_SYNCFS
// replaces the syncfs binary.
func binaries(b testing.TB) (syncfsBin, solverBin string) {
	b.Helper()
	built.once.Do(func() {
		built.syncfs = filepath.Join(binDir, "syncfs")
		built.solver = filepath.Join(binDir, "fakesolver")
		pkgs := map[string]string{"../../cmd/fakesolver": built.solver}
		if p := os.Getenv("SYNCFS_BENCH_SYNCFS"); p != "" {
			built.syncfs = p
		} else {
			pkgs["../../cmd/syncfs"] = built.syncfs
		}
		for pkg, out := range pkgs {
			if o, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
				built.err = fmt.Errorf("building %s: %v\n%s", pkg, err, o)
				return
			}
		}
	})
	if built.err != nil {
		b.Fatal(built.err)
	}
	return built.syncfs, built.solver
}

// needRoot skips (fails in CI) without what the system benchmarks need:
// root for DirectMount and for dropping the page cache, and /dev/fuse.
func needRoot(b testing.TB) {
	b.Helper()
	testenv.Need(b, os.Geteuid() == 0, "root", "the write-path benchmarks mount with DirectMount and drop the page cache (run as root)")
	testenv.NeedFUSE(b)
}
