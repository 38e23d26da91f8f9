package file

import (
	"testing"

	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/remote/storetest"
)

// TestConformanceWithoutOpenat2 runs the suite on the O_NOFOLLOW walk used
// on kernels older than 5.6.
func TestConformanceWithoutOpenat2(t *testing.T) {
	defer ForceNoOpenat2(true)()
	storetest.Run(t, func(t *testing.T) remote.Store {
		s, err := New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
