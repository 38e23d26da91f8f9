package format

import (
	"encoding/json"
	"time"
)

// Root is the root marker syncfs.json.
type Root struct {
	Format        int       `json:"format"`
	Journal       string    `json:"journal"`
	BlockSize     int       `json:"block_size"`
	SegmentBlocks int       `json:"segment_blocks"`
	PageSize      int       `json:"page_size,omitempty"` // format 2 only
	Created       time.Time `json:"created"`
}

// NewRoot returns the marker for a new prefix shipped to by journal:
// format 2, page-granular extents.
func NewRoot(journal string) Root {
	return Root{Format: Version2, Journal: journal, BlockSize: BlockSize, SegmentBlocks: SegmentBlocks, PageSize: PageSize, Created: time.Now().UTC()}
}

// NewRootFormat1 returns a format-1 marker: what a prefix created before
// format 2 holds (tests of format-1 prefixes use it).
func NewRootFormat1(journal string) Root {
	return Root{Format: Version, Journal: journal, BlockSize: BlockSize, SegmentBlocks: SegmentBlocks, Created: time.Now().UTC()}
}

// Granule is the unit extents of the prefix's segments are aligned to:
// a page in format 2, a block in format 1.
func (r Root) Granule() int64 {
	if r.Format == Version2 {
		return PageSize
	}
	return BlockSize
}

// Encode returns the marker's JSON.
func (r Root) Encode() []byte {
	b, _ := json.Marshal(r)
	return append(b, '\n')
}

// DecodeRoot parses a root marker and checks that this syncfs reads its
// format.
func DecodeRoot(b []byte) (Root, error) {
	var r Root
	if err := json.Unmarshal(b, &r); err != nil {
		return Root{}, corrupt("syncfs.json: %v", err)
	}
	page := map[int]int{Version: 0, Version2: PageSize}
	if want, ok := page[r.Format]; !ok || r.PageSize != want || r.BlockSize != BlockSize || r.SegmentBlocks != SegmentBlocks {
		return Root{}, corrupt("syncfs.json: format %d with %d-byte blocks x %d (pages %d); this syncfs reads formats %d and %d", r.Format, r.BlockSize, r.SegmentBlocks, r.PageSize, Version, Version2)
	}
	return r, nil
}
