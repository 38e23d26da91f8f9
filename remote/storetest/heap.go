package storetest

import (
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// peakHeapGrowth runs fn and returns how far the Go heap (bytes of
// allocated objects, live or not yet collected) rose above where it stood
// before fn, sampled every few milliseconds. Garbage counts until it is
// collected, so the collector is made eager meanwhile (GOGC=25): the figure
// then tracks live memory closely while still erring on the high side.
func peakHeapGrowth(fn func()) uint64 {
	defer debug.SetGCPercent(debug.SetGCPercent(25))
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	peak := base

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	return peak - base
}
