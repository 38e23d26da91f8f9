package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/syncfs/syncfs/internal/ranges"
	"github.com/syncfs/syncfs/journal"
)

// writerMain is a process that writes into a mount until it is killed:
// it creates files, writes at random offsets, fsyncs and closes them, and
// logs each operation after it returned (one write(2) per line to a log
// outside the mount, which survives the process being killed). A write is
// also logged before it starts ("begin"), with the seed of its bytes, so
// a test can tell the one write the kill may have cut short. One "." line
// per operation on stdout lets the test know how far it got.
func writerMain() int {
	dir := os.Getenv("SYNCFS_WRITER_DIR")
	logf, err := os.OpenFile(os.Getenv("SYNCFS_WRITER_LOG"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return 1
	}
	seed, _ := strconv.ParseInt(os.Getenv("SYNCFS_WRITER_SEED"), 10, 64)
	rng := rand.New(rand.NewSource(seed))
	logLine := func(format string, args ...any) {
		logf.Write([]byte(fmt.Sprintf(format, args...) + "\n"))
		os.Stdout.Write([]byte(".\n"))
	}
	open := map[string]*os.File{}
	var names []string
	buf := make([]byte, 1<<20)
	for i := 0; ; i++ {
		switch k := rng.Intn(10); {
		case k == 0 || len(open) == 0:
			name := fmt.Sprintf("f%03d", rng.Intn(40))
			if open[name] != nil {
				continue
			}
			f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				return 2
			}
			open[name] = f
			names = append(names, name)
			logLine("open %s", name)
		case k <= 6:
			name := names[rng.Intn(len(names))]
			f := open[name]
			if f == nil {
				continue
			}
			off := rng.Int63n(8 << 20)
			n := rng.Intn(len(buf)) + 1
			seed := rng.Int63()
			fillSeeded(buf[:n], seed)
			logf.Write([]byte(fmt.Sprintf("begin %s %d %d %d\n", name, off, n, seed)))
			if _, err := f.WriteAt(buf[:n], off); err != nil {
				return 3
			}
			logLine("write %s %d %d %d", name, off, n, seed)
		case k == 7:
			name := names[rng.Intn(len(names))]
			if f := open[name]; f != nil {
				if f.Sync() != nil {
					return 4
				}
				logLine("fsync %s", name)
			}
		default:
			name := names[rng.Intn(len(names))]
			if f := open[name]; f != nil {
				if f.Close() != nil {
					return 5
				}
				delete(open, name)
				logLine("close %s", name)
			}
		}
	}
}

// fillSeeded fills b with the bytes seed stands for.
func fillSeeded(b []byte, seed int64) { rand.New(rand.NewSource(seed)).Read(b) }

// TestCrashDuringWriteBurst kills the daemon with SIGKILL in the middle of
// a burst of writes. The journal must then open consistent, and every
// file the burst wrote must either have its written ranges journaled or
// be marked open for write (so recovery compares it whole). Without the
// writeback cache (and so with --direct-writes) nothing is left in the
// kernel's page cache when write(2) returns, so every byte of every write
// that returned must also be in the backing file.
func TestCrashDuringWriteBurst(t *testing.T) {
	for _, flag := range []string{"--writeback-cache=true", "--writeback-cache=false", "--direct-writes"} {
		for round := 0; round < 3; round++ {
			t.Run(fmt.Sprintf("%s/round%d", strings.TrimPrefix(flag, "--"), round), func(t *testing.T) {
				crashRound(t, flag, int64(round+1))
			})
		}
	}
}

func crashRound(t *testing.T, flag string, seed int64) {
	m := newMount(t, "", nil, "--upload=false", flag)
	logPath := filepath.Join(t.TempDir(), "writer.log")
	w := exec.Command(os.Args[0])
	w.Env = append(os.Environ(), "SYNCFS_E2E_HELPER=writer", "SYNCFS_WRITER_DIR="+m.mnt, "SYNCFS_WRITER_LOG="+logPath, fmt.Sprintf("SYNCFS_WRITER_SEED=%d", seed))
	out, _ := w.StdoutPipe()
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(seed))
	target := 100 + rng.Intn(400)
	sc := bufio.NewScanner(out)
	for n := 0; n < target && sc.Scan(); n++ {
	}
	daemon := m.pid()
	if daemon == 0 {
		t.Fatal("no daemon pid")
	}
	syscall.Kill(daemon, syscall.SIGKILL)
	w.Process.Kill()
	w.Wait()
	waitGone(t, daemon)
	syscall.Unmount(m.mnt, syscall.MNT_DETACH)

	j, err := journal.Open(m.state, journal.Options{})
	if err != nil {
		t.Fatalf("journal after a crash: %v", err)
	}
	defer j.Close()
	if err := j.Check(); err != nil {
		t.Fatalf("journal inconsistent after a crash: %v", err)
	}
	state, _ := j.State()
	byPath := map[string]journal.FileState{}
	for _, f := range state {
		byPath[f.Path] = f
	}
	logb, _ := os.ReadFile(logPath)
	writes := 0
	for _, line := range strings.Split(strings.TrimSpace(string(logb)), "\n") {
		var name string
		var off, n int64
		if _, err := fmt.Sscanf(line, "write %s %d %d", &name, &off, &n); err != nil {
			continue
		}
		writes++
		f, ok := byPath[name]
		if !ok {
			t.Fatalf("%s was written (%s) but the journal has nothing of it", name, line)
		}
		if !f.OpenWrite && !f.Dirty.Contains(off, n) {
			t.Fatalf("%s: write [%d,%d) is neither journaled nor covered by an open-for-write mark; dirty %v", name, off, off+n, f.Dirty)
		}
	}
	if writes == 0 {
		t.Fatal("the writer wrote nothing before the crash")
	}
	if flag != "--writeback-cache=true" {
		// Without the writeback cache write(2) waits for the daemon.
		checkLanded(t, m.backing, string(logb))
	}
	t.Logf("%d writes checked", writes)
}

// checkLanded replays the writes of a writer's log and checks that the
// backing files hold every byte of every write that returned, except
// where the write the kill cut short (begun, never logged as done) may
// have overwritten them.
func checkLanded(t *testing.T, backing, log string) {
	want := map[string][]byte{}
	done := map[string]ranges.Set{}
	cut := map[string]ranges.Set{}
	var lastBegin string
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		var kind, name string
		var off, n, seed int64
		if _, err := fmt.Sscanf(line, "%s %s %d %d %d", &kind, &name, &off, &n, &seed); err != nil {
			continue
		}
		if kind == "begin" {
			lastBegin = line
			continue
		}
		lastBegin = ""
		b := want[name]
		if int64(len(b)) < off+n {
			b = append(b, make([]byte, off+n-int64(len(b)))...)
		}
		fillSeeded(b[off:off+n], seed)
		want[name] = b
		done[name] = done[name].Add(off, n)
	}
	if lastBegin != "" {
		var name string
		var off, n int64
		fmt.Sscanf(lastBegin, "begin %s %d %d", &name, &off, &n)
		cut[name] = cut[name].Add(off, n)
	}
	checked := int64(0)
	for name, b := range want {
		got, err := os.ReadFile(filepath.Join(backing, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range done[name].Subtract(cut[name]) {
			end := r.Off + r.Len
			if int64(len(got)) < end {
				t.Fatalf("%s: backing file is %d bytes, a write that returned reached %d", name, len(got), end)
			}
			if !bytes.Equal(got[r.Off:end], b[r.Off:end]) {
				t.Fatalf("%s: bytes [%d,%d) of writes that returned are not in the backing file", name, r.Off, end)
			}
			checked += r.Len
		}
	}
	t.Logf("%d bytes of returned writes found in the backing files", checked)
}

// waitGone waits for a killed process to be reaped by init: its pidfd
// becomes readable.
func waitGone(t *testing.T, pid int) {
	fd, err := pidfdOpen(pid)
	if err != nil {
		return
	}
	defer syscall.Close(fd)
	pollReadable(fd)
}
