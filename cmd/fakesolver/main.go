// Command fakesolver writes output the way HPC solvers do, for the demo,
// the tests and the benchmarks: a large binary result file of float32
// fields written step by step, whose header and index blocks are
// rewritten in place after they were flushed (what ABAQUS does to .odb
// files and what the tool syncfs replaces missed), plus text logs that
// grow line by line.
//
//	fakesolver -dir DIR [-size 64MiB] [-steps 8] [-seed 1] [-fsync]
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	bytesize "github.com/syncfs/syncfs/internal/size"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"time"
)

func main() {
	dir := flag.String("dir", "", "output directory (required)")
	size := flag.String("size", "64MiB", "size of the result file (e.g. 512KiB, 64MiB, 1GiB)")
	steps := flag.Int("steps", 8, "solver increments; each appends a frame and rewrites the header and index")
	seed := flag.Int64("seed", 1, "random seed")
	fsync := flag.Bool("fsync", false, "fsync the result file after every step")
	name := flag.String("name", "job", "job name: files are NAME.odb, NAME.sta, NAME.msg, NAME.dat")
	fail := flag.Int("fail-after", 0, "exit 3 after this many steps (a job that dies), 0: never")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "fakesolver: -dir is required")
		os.Exit(2)
	}
	n, err := bytesize.Parse(*size)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakesolver:", err)
		os.Exit(2)
	}
	if err := run(*dir, *name, n, *steps, *seed, *fsync, *fail); err != nil {
		fmt.Fprintln(os.Stderr, "fakesolver:", err)
		if err == errFailed {
			os.Exit(3)
		}
		os.Exit(1)
	}
}

var errFailed = fmt.Errorf("simulated solver failure")

const (
	headerSize = 4096
	indexSize  = 4096
)

func run(dir, name string, size int64, steps int, seed int64, fsync bool, failAfter int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rng := rand.New(rand.NewSource(seed))
	odb, err := os.OpenFile(filepath.Join(dir, name+".odb"), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer odb.Close()
	sta, err := os.OpenFile(filepath.Join(dir, name+".sta"), os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer sta.Close()
	msg, err := os.OpenFile(filepath.Join(dir, name+".msg"), os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer msg.Close()

	// Layout: header | index | frames... The header and the index are
	// written first (placeholders), then rewritten after every step.
	if _, err := odb.WriteAt(header(0, steps, rng), 0); err != nil {
		return err
	}
	if _, err := odb.WriteAt(make([]byte, indexSize), headerSize); err != nil {
		return err
	}
	body := size - headerSize - indexSize
	if body < int64(steps) {
		body = int64(steps)
	}
	perStep := body / int64(steps)
	off := int64(headerSize + indexSize)
	index := make([]byte, indexSize)
	fmt.Fprintf(sta, " SUMMARY OF JOB INFORMATION:\n STEP  INC ATT SEVERE EQUIL TOTAL  TOTAL      STEP       INC OF       DOF    IF\n")
	for step := 1; step <= steps; step++ {
		if failAfter > 0 && step > failAfter {
			return errFailed
		}
		n := perStep
		if step == steps {
			n = size - off
		}
		if err := writeFrame(odb, off, n, step, rng); err != nil {
			return err
		}
		binary.LittleEndian.PutUint64(index[(step%(indexSize/16))*16:], uint64(off))
		binary.LittleEndian.PutUint64(index[(step%(indexSize/16))*16+8:], uint64(n))
		// In-place rewrites of bytes written long ago.
		if _, err := odb.WriteAt(index, headerSize); err != nil {
			return err
		}
		if _, err := odb.WriteAt(header(step, steps, rng), 0); err != nil {
			return err
		}
		if fsync {
			if err := odb.Sync(); err != nil {
				return err
			}
		}
		off += n
		fmt.Fprintf(sta, "   1 %4d   1     0     4     4 %8.3f %8.3f %10.3e\n", step, float64(step)*0.1, float64(step)*0.1, 0.1)
		fmt.Fprintf(msg, " INCREMENT %d SUMMARY\n TIME INCREMENT COMPLETED  0.100 ,  FRACTION OF STEP COMPLETED  %.3f\n", step, float64(step)/float64(steps))
	}
	fmt.Fprintf(sta, " THE ANALYSIS HAS COMPLETED SUCCESSFULLY\n")
	dat := fmt.Sprintf(" ABAQUS JOB %s\n ANALYSIS COMPLETE\n %d INCREMENTS, %d BYTES OF RESULTS\n", name, steps, size)
	return os.WriteFile(filepath.Join(dir, name+".dat"), []byte(dat), 0o644)
}

func header(step, steps int, rng *rand.Rand) []byte {
	h := make([]byte, headerSize)
	copy(h, fmt.Sprintf("FAKEODB v1 step %d of %d written %s", step, steps, time.Now().UTC().Format(time.RFC3339Nano)))
	rng.Read(h[256:512])
	return h
}

// writeFrame writes n bytes of smooth float32 fields (what solvers write:
// values that vary slowly across a mesh), in 1 MiB writes.
func writeFrame(f *os.File, off, n int64, step int, rng *rand.Rand) error {
	buf := make([]byte, 1<<20)
	phase := rng.Float64() * math.Pi
	for done := int64(0); done < n; {
		chunk := min(int64(len(buf)), n-done)
		for i := int64(0); i+4 <= chunk; i += 4 {
			x := float64(off+done+i) / 4096
			v := float32(math.Sin(x*0.01+phase)*100 + float64(step) + rng.NormFloat64()*0.01)
			binary.LittleEndian.PutUint32(buf[i:], math.Float32bits(v))
		}
		if _, err := f.WriteAt(buf[:chunk], off+done); err != nil {
			return err
		}
		done += chunk
	}
	return nil
}
