package main

import (
	"context"
	"fmt"
	"io"
	"path"
	"sync"
	"time"

	"github.com/syncfs/syncfs/browse"
	"github.com/syncfs/syncfs/format"
	"github.com/syncfs/syncfs/internal/exitcode"
)

const lsArgs = "[-R] [--s3-endpoint URL] URL"

// runLs lists a directory of a remote tree like ls -l (mode, owner,
// size, mtime, name), or describes one file. Entries that cannot be
// trusted are left out with one line on stderr each.
func runLs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("ls", lsArgs, stderr)
	recursive := fs.Bool("R", false, "list subdirectories recursively (paths relative to URL)")
	endpoint := fs.String("s3-endpoint", "", "S3 endpoint URL (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or AWS)")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return helpOK(err)
	}
	logger := stderrLogger("ls")
	tree, rel, e, err := openTree(ctx, pos[0], *endpoint, browse.Options{Quiet: true}, logger)
	if err != nil {
		return err
	}
	m, err := tree.Stat(ctx, e.ID)
	if err != nil {
		return browseErr(fmt.Errorf("%s: %w", pos[0], err))
	}
	if m.Kind != format.KindDir {
		name := path.Base("/" + rel)
		fmt.Fprintln(stdout, lsLine(m, name))
		return nil
	}
	var visited browse.Visited
	visited.Enter(e.ID, "")
	return lsDir(ctx, tree, e.ID, "", *recursive, &visited, stdout, logger)
}

// lsDir prints directory id (at prefix) and, recursively, its
// subdirectories, each once: a hostile remote's dentry that points back
// at an ancestor is reported, not followed.
func lsDir(ctx context.Context, tree *browse.Tree, id format.ID, prefix string, recursive bool, visited *browse.Visited, w io.Writer, logger interface{ Printf(string, ...any) }) error {
	ents, err := tree.ReadDir(ctx, id)
	if err != nil {
		return browseErr(err)
	}
	mans := make([]*format.Manifest, len(ents))
	errs := make([]error, len(ents))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, e := range ents {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			mans[i], errs[i] = tree.Stat(ctx, e.ID)
		}()
	}
	wg.Wait()
	for i, e := range ents {
		p := path.Join(prefix, e.Name)
		switch {
		case errs[i] != nil:
			if ctx.Err() != nil {
				return exitcode.Wrap(exitcode.Error, ctx.Err())
			}
			logger.Printf("%s: skipped: %v", p, errs[i])
			continue
		case mans[i].Kind != e.Kind:
			logger.Printf("%s: skipped: the dentry says %v, the manifest %v", p, e.Kind, mans[i].Kind)
			continue
		}
		fmt.Fprintln(w, lsLine(mans[i], p))
	}
	if !recursive {
		return nil
	}
	for i, e := range ents {
		if errs[i] == nil && e.Kind == format.KindDir && mans[i].Kind == format.KindDir {
			p := path.Join(prefix, e.Name)
			if err := visited.Enter(e.ID, p); err != nil {
				logger.Printf("%s: skipped: %v", p, err)
				continue
			}
			if err := lsDir(ctx, tree, e.ID, p, true, visited, w, logger); err != nil {
				return err
			}
		}
	}
	return nil
}

// lsLine formats one entry as ls -l does, with the full mtime.
func lsLine(m *format.Manifest, name string) string {
	size := m.Size
	if m.Kind == format.KindSymlink {
		size = int64(len(m.Target))
		name += " -> " + m.Target
	}
	return fmt.Sprintf("%s %6d %6d %14d %s %s", modeString(m.Kind, m.Mode), m.UID, m.GID, size,
		m.Mtime.Local().Format(time.DateTime), name)
}

// modeString renders a mode as ls does: type, then rwx triplets with
// s/S, t/T for set-ID and sticky bits.
func modeString(k format.Kind, mode uint32) string {
	b := []byte("----------")
	switch k {
	case format.KindDir:
		b[0] = 'd'
	case format.KindSymlink:
		b[0] = 'l'
	}
	const rwx = "rwxrwxrwx"
	for i := 0; i < 9; i++ {
		if mode&(1<<(8-i)) != 0 {
			b[i+1] = rwx[i]
		}
	}
	special := func(pos int, bit uint32, set, unset byte) {
		if mode&bit != 0 {
			if b[pos] == 'x' {
				b[pos] = set
			} else {
				b[pos] = unset
			}
		}
	}
	special(3, 0o4000, 's', 'S')
	special(6, 0o2000, 's', 'S')
	special(9, 0o1000, 't', 'T')
	return string(b)
}
