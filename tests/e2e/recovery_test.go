package e2e

import (
	"bufio"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOutOfBand writes into the backing directory without going through
// the mount, while it is mounted (the watcher finds it) and while it is
// not (the scan at mount start finds it): both reach the remote.
func TestOutOfBand(t *testing.T) {
	m := newMount(t, "", nil)
	writeAt(t, m.path("a"), 0, randBytes(300000))
	os.MkdirAll(m.path("d"), 0o755)
	m.flush()

	// While mounted.
	writeAt(t, filepath.Join(m.backing, "a"), 100000, []byte("changed behind the mount"))
	os.WriteFile(filepath.Join(m.backing, "new-while-mounted"), randBytes(5000), 0o644)
	os.MkdirAll(filepath.Join(m.backing, "d", "deep", "er"), 0o755)
	os.WriteFile(filepath.Join(m.backing, "d", "deep", "er", "f"), []byte("deep"), 0o644)
	os.Remove(filepath.Join(m.backing, "d")) // not empty: stays
	m.flush()
	verifyOK(t, m, m.backing)

	// While unmounted.
	m.unmount()
	writeAt(t, filepath.Join(m.backing, "a"), 0, []byte("rewritten while unmounted"))
	os.WriteFile(filepath.Join(m.backing, "new-while-unmounted"), randBytes(70000), 0o644)
	os.RemoveAll(filepath.Join(m.backing, "d", "deep"))
	os.Rename(filepath.Join(m.backing, "new-while-mounted"), filepath.Join(m.backing, "renamed"))
	m.start()
	m.flush()
	verifyOK(t, m, m.backing)
}

// TestOwnWritesNotCompared: the mount's own writes to a shipped file are
// not mistaken for out-of-band ones when the watcher reconciles the
// directory (a sibling was created): only the rewritten range is read
// back, never the whole file to hash it.
func TestOwnWritesNotCompared(t *testing.T) {
	// Long delays: the rewritten file stays unshipped (as a solver's
	// result file does while it is open) when the watcher looks.
	m := newMount(t, "", nil, "--upload-delay", "10m", "--max-age", "20m")
	const size = 8 << 20
	writeAt(t, m.path("big"), 0, randBytes(size))
	m.flush()
	st := status(t, m)
	readBefore := st["read_bytes"].(float64)
	rec := st["reconcile"].(map[string]any)
	events, compared := rec["watch_events"].(float64), rec["compared"].(float64)

	f, err := os.OpenFile(m.path("big"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(randBytes(4096), 3<<20); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(m.path("sibling"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The backing dir's events are queued; wait until the watcher has
	// received and reconciled them (settled, then looked at).
	deadline := time.Now().Add(30 * time.Second)
	for {
		rec = status(t, m)["reconcile"].(map[string]any)
		if rec["watch_events"].(float64) >= events+2 && rec["watch_pending"].(float64) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the watcher did not settle: %v", rec)
		}
		time.Sleep(50 * time.Millisecond) // polling the readiness signal
	}
	if n := rec["compared"].(float64) - compared; n != 0 {
		t.Errorf("%v files compared block by block after the mount's own writes; want 0\nlog:\n%s", n, m.log())
	}
	f.Close()
	m.flush()
	if read := status(t, m)["read_bytes"].(float64) - readBefore; read > 1<<20 {
		t.Errorf("uploader read %v bytes back for a 4 KiB rewrite and a 1-byte file; want the rewritten blocks only", read)
	}
	verifyOK(t, m, m.backing)
}

// crashWriter is a process writing into a mount until killed, as a
// solver would: a result file written sequentially and rewritten in place,
// a log appended to, files renamed into place.
func crashWriterMain() int {
	dir := os.Getenv("SYNCFS_WRITER_DIR")
	seed, _ := strconv.ParseInt(os.Getenv("SYNCFS_WRITER_SEED"), 10, 64)
	rng := rand.New(rand.NewSource(seed))
	odb, err := os.OpenFile(filepath.Join(dir, "run.odb"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return 1
	}
	buf := make([]byte, 256<<10)
	var size int64
	if st, err := odb.Stat(); err == nil {
		size = st.Size()
	}
	for i := 0; ; i++ {
		switch k := rng.Intn(10); {
		case k < 4: // sequential growth
			rng.Read(buf)
			if _, err := odb.WriteAt(buf, size); err != nil {
				return 2
			}
			size += int64(len(buf))
		case k < 7 && size > 0: // in-place rewrite of old data
			n := rng.Intn(8192) + 1
			rng.Read(buf[:n])
			if _, err := odb.WriteAt(buf[:n], rng.Int63n(size)); err != nil {
				return 3
			}
		case k < 9: // log line
			f, err := os.OpenFile(filepath.Join(dir, "run.sta"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
			if err != nil {
				return 4
			}
			fmt.Fprintf(f, "step %d\n", i)
			f.Close()
		default: // write a file aside and rename it into place
			tmp := filepath.Join(dir, fmt.Sprintf(".part%d", i))
			if err := os.WriteFile(tmp, buf[:rng.Intn(len(buf))], 0o644); err != nil {
				return 5
			}
			if err := os.Rename(tmp, filepath.Join(dir, fmt.Sprintf("frame%d.dat", i%5))); err != nil {
				return 6
			}
		}
		os.Stdout.Write([]byte(".\n"))
	}
}

// TestCrashHarness kills the daemon with SIGKILL at random moments of a
// solver-like write load, many times. After each kill, a new mount on
// the same state recovers (open files compared block by block), and
// flush + verify must pass: nothing missing or stale in the remote.
func TestCrashHarness(t *testing.T) {
	rounds := 20
	if testing.Short() {
		rounds = 5
	}
	m := newMount(t, "", nil)
	for round := 0; round < rounds; round++ {
		rng := rand.New(rand.NewSource(int64(round)))
		w := exec.Command(os.Args[0])
		w.Env = append(os.Environ(), "SYNCFS_E2E_HELPER=crashwriter", "SYNCFS_WRITER_DIR="+m.mnt, fmt.Sprintf("SYNCFS_WRITER_SEED=%d", round))
		out, _ := w.StdoutPipe()
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		for n, target := 0, 20+rng.Intn(200); n < target && sc.Scan(); n++ {
		}
		pid := m.pid()
		syscall.Kill(pid, syscall.SIGKILL)
		w.Process.Kill()
		w.Wait()
		waitGone(t, pid)
		m.unmount() // detaches the dead mount
		m.start()   // recovery
		m.flush()
		r := syncfs(t, nil, "verify", "--remote", m.remote, m.backing)
		if r.Code != 0 {
			t.Fatalf("round %d: after a crash and recovery: %v\nlog:\n%s", round, r, m.log())
		}
	}
	if !strings.Contains(m.log(), "recovery") {
		t.Error("no recovery logged in any round")
	}
}
