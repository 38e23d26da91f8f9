package bench

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/syncfs/syncfs/format"
)

// BenchmarkDelta is issue 15: what syncfs sends for applications that
// rewrite small pieces of files it already shipped. Each repetition uses a
// fresh mount (uploads on, file:// remote) and runs every workload in its
// own directory: setup, flush --wait, a snapshot of the backing files, the
// change, flush --wait. Per workload it reports
//
//	<w>-modified-MB        4 KiB pages that differ from the snapshot, plus bytes appended
//	<w>-uploaded/modified  file bytes the uploader shipped for the change (before compression)
//	<w>-sent/modified      bytes put to the remote for the change (compressed, manifests included)
//	                       target <= 1.2 for the page workloads, <= 1.0 for the others
//	<w>-rclone/modified    what rclone sends: every changed file whole
//	<w>-lifetime-sent/written  bytes put for setup and change over the bytes the
//	                       application wrote through the mount (status written_bytes,
//	                       its journals and WAL included)               target <= 1.0
//	<w>-lifetime-sent/least-written  the same over the files' size after setup plus
//	                       the modified bytes: the least any writer could have written
//	<w>-stored/compressed  the remote's bytes for the workload over the zstd size of
//	                       its current files, 1 MiB frames              target <= 1.3
//
// The workloads: Debian's sqlite3 CLI, 1000 single-row UPDATE transactions
// on a 200 MiB database, with the rollback journal and in WAL mode; 100
// random 2 KiB records of a 128 MiB Fortran-style direct-access file; the
// ABAQUS-like change of BenchmarkUpload on a 256 MiB result file (4 KiB
// header, 1 % in 64 KiB blocks, 5 % appended); an HDF5-like overwrite of
// three 1 MiB chunks of a 256 MiB file with its B-tree, heap and
// superblock pages.
func BenchmarkDelta(b *testing.B) {
	needRoot(b)
	if _, err := exec.LookPath("sqlite3"); err != nil {
		b.Skip("sqlite3 not found (apt-get install sqlite3)")
	}
	root := b.TempDir()
	s := series{}
	rep := 0
	for b.Loop() {
		b.StopTimer()
		m := newMount(b, root, fmt.Sprintf("delta%d", rep), "", nil)
		remoteDir := strings.TrimPrefix(m.rem, "file://")
		for _, w := range deltaWorkloads {
			dir := m.path(w.name)
			if err := os.Mkdir(dir, 0o755); err != nil {
				b.Fatal(err)
			}
			st0, stored0 := m.status(), treeBytes(b, remoteDir)
			w.setup(b, dir, uint64(rep))
			m.flush()
			st1 := m.status()
			backing := filepath.Join(m.backing, w.name)
			snap := filepath.Join(root, fmt.Sprintf("snap%d-%s", rep, w.name))
			copyTree(b, backing, snap)
			setupBytes := treeBytes(b, backing)

			w.change(b, dir, uint64(rep))
			m.flush()
			st2 := m.status()
			modified, changedFiles := modifiedPages(b, snap, backing)
			if modified == 0 {
				b.Fatalf("%s: the change modified nothing", w.name)
			}
			mod := float64(modified)
			s.add(w.name+"-modified-MB", mod/1e6)
			s.add(w.name+"-uploaded/modified", float64(st2.UploadedBytes-st1.UploadedBytes)/mod)
			s.add(w.name+"-sent/modified", float64(st2.SentBytes-st1.SentBytes)/mod)
			s.add(w.name+"-rclone/modified", float64(changedFiles)/mod)
			s.add(w.name+"-lifetime-sent/written", float64(st2.SentBytes-st0.SentBytes)/float64(st2.WrittenBytes-st0.WrittenBytes))
			s.add(w.name+"-lifetime-sent/least-written", float64(st2.SentBytes-st0.SentBytes)/float64(setupBytes+modified))
			s.add(w.name+"-stored/compressed", float64(treeBytes(b, remoteDir)-stored0)/float64(compressedBytes(b, backing)))
			if err := os.RemoveAll(snap); err != nil {
				b.Fatal(err)
			}
		}
		m.unmount()
		if err := os.RemoveAll(filepath.Join(root, m.name)); err != nil {
			b.Fatal(err)
		}
		rep++
		b.StartTimer()
	}
	s.report(b)
	s.logReps(b)
}

type deltaWorkload struct {
	name          string
	setup, change func(b testing.TB, dir string, seed uint64)
}

var deltaWorkloads = []deltaWorkload{
	{"sqlite-rollback", sqliteSetup("delete"), sqliteUpdates},
	{"sqlite-wal", sqliteSetup("wal"), sqliteUpdates},
	{"fortran", fortranSetup, fortranChange},
	{"abaqus", abaqusSetup, abaqusChange},
	{"hdf5", hdf5Setup, hdf5Change},
}

const sqliteRows = 200 << 10 // of ~1000 bytes: about 200 MiB (4 KiB pages)

func runSQLite(b testing.TB, db, script string) {
	b.Helper()
	cmd := exec.Command("sqlite3", db)
	cmd.Stdin = strings.NewReader(script)
	if o, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("sqlite3 %s: %v\n%s", db, err, o)
	}
}

func sqliteSetup(mode string) func(testing.TB, string, uint64) {
	return func(b testing.TB, dir string, _ uint64) {
		runSQLite(b, filepath.Join(dir, "bench.db"), fmt.Sprintf("PRAGMA journal_mode=%s;\n"+
			"CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB);\n"+
			"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < %d) INSERT INTO t SELECT i, randomblob(1000) FROM c;\n", mode, sqliteRows))
	}
}

// sqliteUpdates runs 1000 autocommit UPDATEs: one transaction each, in the
// journal mode the database was made with (WAL is persistent).
func sqliteUpdates(b testing.TB, dir string, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 15))
	var sql strings.Builder
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&sql, "UPDATE t SET v = randomblob(1000) WHERE id = %d;\n", 1+rng.IntN(sqliteRows))
	}
	runSQLite(b, filepath.Join(dir, "bench.db"), sql.String())
}

const (
	fortranRecord = 2 << 10
	fortranSize   = 128 << 20
)

// fortranSetup writes a direct-access file of fixed 2 KiB records of
// float32 fields, as a Fortran OPEN(ACCESS='DIRECT', RECL=...) program does.
func fortranSetup(b testing.TB, dir string, seed uint64) {
	writeFields(b, filepath.Join(dir, "fort.10"), fortranSize, seed)
}

// fortranChange rewrites 100 distinct random records in place.
func fortranChange(b testing.TB, dir string, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 16))
	f := openRW(b, filepath.Join(dir, "fort.10"))
	rec := make([]byte, fortranRecord)
	for _, i := range r.Perm(fortranSize / fortranRecord)[:100] {
		off := int64(i) * fortranRecord
		solverData(rec, off, r)
		writeAtFile(b, f, rec, off)
	}
	closeFile(b, f)
}

const abaqusSize = 256 << 20

func abaqusSetup(b testing.TB, dir string, seed uint64) {
	writeFields(b, filepath.Join(dir, "job.odb"), abaqusSize, seed)
}

func abaqusChange(b testing.TB, dir string, seed uint64) {
	change(b, filepath.Join(dir, "job.odb"), abaqusSize, seed)
}

const (
	hdf5Size  = 256 << 20
	hdf5Chunk = 1 << 20
)

// hdf5Setup writes an HDF5-like file: a superblock and metadata pages
// (B-tree nodes, a local heap) in the first 1 MiB, then 1 MiB chunks of a
// dataset.
func hdf5Setup(b testing.TB, dir string, seed uint64) {
	writeFields(b, filepath.Join(dir, "out.h5"), hdf5Size, seed)
}

// hdf5Change overwrites three chunks of one time step, and rewrites what
// HDF5 updates with them: a B-tree node, a heap page and the superblock's
// end-of-file address.
func hdf5Change(b testing.TB, dir string, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 17))
	f := openRW(b, filepath.Join(dir, "out.h5"))
	chunk := make([]byte, hdf5Chunk)
	first := 1 + r.IntN(hdf5Size/hdf5Chunk-4)
	for c := first; c < first+3; c++ {
		off := int64(c) * hdf5Chunk
		solverData(chunk, off, r)
		writeAtFile(b, f, chunk, off)
	}
	page := make([]byte, 4096)
	for _, off := range []int64{8 << 10, 72 << 10} { // B-tree node, heap
		solverData(page, off, r)
		writeAtFile(b, f, page, off)
	}
	solverData(page[:96], 0, r)
	writeAtFile(b, f, page[:96], 0) // superblock
	closeFile(b, f)
}

func writeFields(b testing.TB, path string, size int64, seed uint64) {
	b.Helper()
	r := rand.New(rand.NewPCG(seed, 14))
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(buf)) {
		solverData(buf, off, r)
		writeAtFile(b, f, buf, off)
	}
	closeFile(b, f)
}

func openRW(b testing.TB, path string) *os.File {
	b.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	return f
}

func writeAtFile(b testing.TB, f *os.File, p []byte, off int64) {
	b.Helper()
	if _, err := f.WriteAt(p, off); err != nil {
		b.Fatal(err)
	}
}

func closeFile(b testing.TB, f *os.File) {
	b.Helper()
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// modifiedPages compares the regular files under after with their copies
// under before: the 4 KiB pages that differ, plus the bytes past the old
// end, summed; and the sizes of the files that changed at all (what a
// whole-file copier such as rclone sends again).
func modifiedPages(b testing.TB, before, after string) (modified, changedFiles int64) {
	b.Helper()
	err := filepath.WalkDir(after, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(after, p)
		cur, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		old, err := os.ReadFile(filepath.Join(before, rel))
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		var n int64
		for off := 0; off < len(cur); off += 4096 {
			end := min(off+4096, len(cur))
			if end > len(old) {
				n += int64(end - max(off, len(old)))
				if off < len(old) && !bytes.Equal(cur[off:len(old)], old[off:]) {
					n += int64(len(old) - off)
				}
				continue
			}
			if !bytes.Equal(cur[off:end], old[off:end]) {
				n += int64(end - off)
			}
		}
		modified += n
		if n > 0 || len(cur) != len(old) {
			changedFiles += int64(len(cur))
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return modified, changedFiles
}

// treeBytes sums the sizes of the regular files under dir.
func treeBytes(b testing.TB, dir string) int64 {
	b.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n += fi.Size()
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// compressedBytes is what the regular files under dir compress to with
// syncfs's own codec, in 1 MiB frames: the least a remote can hold them in.
func compressedBytes(b testing.TB, dir string) int64 {
	b.Helper()
	comp, err := format.NewCompressor("")
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	buf := make([]byte, 1<<20)
	var out []byte
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		for {
			k, err := io.ReadFull(f, buf)
			if k > 0 {
				out, _ = comp.Encode(out[:0], buf[:k])
				n += int64(len(out))
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil
			}
			if err != nil {
				return err
			}
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// copyTree copies the regular files under src to dst.
func copyTree(b testing.TB, src, dst string) {
	b.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		copyFile(b, p, filepath.Join(dst, rel))
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
