package daemon

import (
	"context"
	"time"

	"github.com/syncfs/syncfs/remote"
)

// Config is everything a writable mount, a watch or a recovery needs.
// Paths are absolute.
type Config struct {
	Mountpoint   string
	Backing      string // where the bytes land; the watched dir of a watch
	State        string // journal, control socket, pid file, log
	Remote       string // the remote's URL, as status shows it
	Excludes     []string
	Force        bool // take the remote's lease over from another host
	Passthrough  bool
	Writeback    bool
	Direct       bool
	Debug        bool
	LogFile      string // "" logs to the writer Run is given
	UploadDelay  time.Duration
	MaxAge       time.Duration
	Level        string // zstd level name
	MetricsAddr  string
	Upload       bool
	PublishEvery time.Duration // publish plain objects this often (0: never)
	Watch        bool          // no mount: Backing is watched with inotify

	// OpenStore opens the remote and checks that it can be written; its
	// errors carry their exit codes (internal/exitcode).
	OpenStore func(ctx context.Context) (remote.Store, error)
	// Failpoint, if set, is called at named points of an inode commit
	// (uploader.Config.Failpoint): the crash tests kill the daemon there.
	Failpoint func(point string)
}

// Ready is told, once, that a mount is usable (nil) or why it could not
// be made; the command that started the daemon waits for it.
type Ready func(err error)

// what names the daemon's job in messages.
func (c *Config) what() string {
	if c.Watch {
		return "watch of " + c.Backing
	}
	return "mount " + c.Mountpoint
}
