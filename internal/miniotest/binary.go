package miniotest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// InstallHint says how to get the binary.
const InstallHint = "install with: go install github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c"

var binary = sync.OnceValues(findBinary)

// Binary returns the path of the MinIO server binary and whether one was
// found. MINIO_BIN, when set, is the only place looked at, so that
// MINIO_BIN=/nonexistent reliably simulates a machine without MinIO.
func Binary() (string, bool) { return binary() }

func findBinary() (string, bool) {
	if p, ok := os.LookupEnv("MINIO_BIN"); ok {
		return p, isExecutable(p)
	}
	var dirs []string
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) > 0 && lines[0] != "" {
			dirs = append(dirs, lines[0])
		}
		if len(lines) > 1 {
			for _, gp := range filepath.SplitList(lines[1]) {
				dirs = append(dirs, filepath.Join(gp, "bin"))
			}
		}
	}
	for _, d := range dirs {
		if p := filepath.Join(d, "minio"); isExecutable(p) {
			return p, true
		}
	}
	if p, err := exec.LookPath("minio"); err == nil {
		return p, true
	}
	return "", false
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
