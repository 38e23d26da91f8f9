package mem_test

import (
	"testing"

	"github.com/syncfs/syncfs/remote"
	"github.com/syncfs/syncfs/remote/mem"
	"github.com/syncfs/syncfs/remote/storetest"
)

func TestConformance(t *testing.T) {
	storetest.RunConfig(t, storetest.Config{InMemory: true}, func(t *testing.T) remote.Store {
		return mem.New("mem://" + t.Name())
	})
}
