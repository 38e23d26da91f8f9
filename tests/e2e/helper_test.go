package e2e

import (
	"os"
	"testing"

	"github.com/syncfs/syncfs/internal/miniotest"
)

// helperMain runs this test binary as a helper process when asked to by
// an environment variable (the writer of the crash tests) and reports
// whether it did.
func helperMain() bool {
	switch os.Getenv("SYNCFS_E2E_HELPER") {
	case "writer":
		os.Exit(writerMain())
	case "crashwriter":
		os.Exit(crashWriterMain())
	}
	return false
}

// runTests runs the tests with one MinIO server for the package (started
// on first use).
func runTests(m *testing.M) int { return miniotest.Main(m) }
