package bench

import (
	"math/rand/v2"
	"testing"

	"github.com/syncfs/syncfs/journal"
)

// BenchmarkRecordWrite is the journal's cost per write as the daemon pays
// it: one RecordWrite call, with the journal's background group commit
// (every 100 ms, fdatasync included) running as in the daemon.
//
//	seq      4 KiB writes one after the other (one growing range)
//	random   4 KiB writes at random 4 KiB-aligned offsets of a 256 MiB
//	         file, with at most 1024 of them pending: the journal is
//	         synced (timer stopped) every 1024 writes, as a commit of the
//	         daemon takes them every 100 ms. Without that bound the pending
//	         set grew with b.N, and so did the figure.
func BenchmarkRecordWrite(b *testing.B) {
	const block = 4096
	for _, mode := range []string{"seq", "random"} {
		b.Run(mode, func(b *testing.B) {
			j, err := journal.Open(b.TempDir(), journal.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				if err := j.Close(); err != nil {
					b.Error(err)
				}
			})
			id, err := j.Create(journal.RootID, "f", journal.KindFile, "")
			if err != nil {
				b.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, 2))
			var off int64
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				if mode == "random" {
					off = r.Int64N((256<<20)/block) * block
				}
				j.RecordWrite(id, off, block)
				if mode == "seq" {
					off += block
				}
				if n++; n%1024 == 0 {
					b.StopTimer()
					if err := j.Sync(); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			}
		})
	}
}
