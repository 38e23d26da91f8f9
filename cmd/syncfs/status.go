package main

import (
	"os"
	"sort"

	"github.com/syncfs/syncfs/internal/ranges"
)

// Status is what `syncfs status --json` prints. Field names are part of
// the CLI contract (docs/cli.md).
type Status struct {
	PID        int          `json:"pid"`
	Mountpoint string       `json:"mountpoint"`
	Backing    string       `json:"backing"`
	State      string       `json:"state"`
	Remote     string       `json:"remote"`
	DirtyBytes int64        `json:"dirty_bytes"` // written, not yet shipped (in flight included)
	Files      []FileStatus `json:"files"`
}

// FileStatus is one file with work pending.
type FileStatus struct {
	Path         string     `json:"path"`
	Dirty        [][2]int64 `json:"dirty"`               // [offset, length] pairs
	InFlight     [][2]int64 `json:"in_flight,omitempty"` // claimed by the uploader
	AttrDirty    bool       `json:"attr_dirty,omitempty"`
	OpenForWrite bool       `json:"open_for_write,omitempty"`
}

func pairs(s ranges.Set) [][2]int64 {
	out := make([][2]int64, 0, len(s))
	for _, r := range s {
		out = append(out, [2]int64{r.Off, r.Len})
	}
	return out
}

func (d *daemon) status() (*Status, error) {
	st := &Status{PID: os.Getpid(), Mountpoint: d.c.Mountpoint, Backing: d.c.Backing, State: d.c.State, Remote: d.c.Remote, Files: []FileStatus{}}
	files, err := d.j.State()
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		st.DirtyBytes += f.Dirty.Union(f.InFlight).Bytes()
		st.Files = append(st.Files, FileStatus{Path: f.Path, Dirty: pairs(f.Dirty), InFlight: pairs(f.InFlight), AttrDirty: f.AttrDirty, OpenForWrite: f.OpenWrite})
	}
	sort.Slice(st.Files, func(i, k int) bool { return st.Files[i].Path < st.Files[k].Path })
	return st, nil
}
