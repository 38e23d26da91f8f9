// Package exclude matches the names a mount never ships (--exclude):
// scratch and backup files a solver writes beside its results.
package exclude

import (
	"fmt"
	"github.com/syncfs/syncfs/internal/beneath"
	"path"
	"strings"
)

// Matcher decides which names are never journaled. A pattern without '/' matches
// a name in any directory (e.g. "*.tmp", STAR-CCM+ backups "*@*.sim"); a
// pattern with '/' matches the whole path relative to the mount root. A
// directory that matches excludes everything below it.
type Matcher struct {
	names []string
	paths []string
}

// New compiles patterns; a malformed one is an error naming it.
func New(patterns []string) (*Matcher, error) {
	e := &Matcher{}
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("bad --exclude pattern %q: %w", p, err)
		}
		if strings.Contains(p, "/") {
			e.paths = append(e.paths, strings.Trim(p, "/"))
		} else {
			e.names = append(e.names, p)
		}
	}
	return e, nil
}

// Match reports whether the entry at rel (relative to the root) is
// excluded by a pattern of its own. Whether a parent is excluded is known
// from the parent's node.
func (e *Matcher) Match(rel string) bool {
	if e == nil || rel == "" {
		return false
	}
	_, name := beneath.Split(rel)
	for _, p := range e.names {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	for _, p := range e.paths {
		if ok, _ := path.Match(p, rel); ok {
			return true
		}
	}
	return false
}
