package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/syncfs/syncfs/internal/exitcode"
)

// flagSet is a subcommand's flags, with the usage line printed for
// --help (and only then: a bad flag gets one line, not the whole list).
type flagSet struct {
	*flag.FlagSet
	args   string
	stderr io.Writer
}

// newFlags returns a flag set for a subcommand whose errors are ours to
// print (one line, exit code 2), not the flag package's.
func newFlags(name, args string, stderr io.Writer) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flagSet{FlagSet: fs, args: args, stderr: stderr}
}

func (fs *flagSet) usage() {
	fmt.Fprintf(fs.stderr, "usage: syncfs %s %s\n", fs.Name(), fs.args)
	fs.SetOutput(fs.stderr)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// errHelp is returned for -h/--help: usage was printed, exit 0.
var errHelp = errors.New("help")

// parse parses args allowing flags after positional arguments (syncfs
// mount MNT --backing X works as well as the other order) and checks the
// number of positional arguments.
func parse(fs *flagSet, args []string, minPos, maxPos int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.usage()
				return nil, errHelp
			}
			return nil, exitcode.New(exitcode.Usage, "%s: %v (see syncfs %s --help)", fs.Name(), err, fs.Name())
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" {
			pos = append(pos, rest[1:]...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if len(pos) < minPos || len(pos) > maxPos {
		want := fmt.Sprint(minPos)
		if maxPos != minPos {
			want = fmt.Sprintf("%d to %d", minPos, maxPos)
		}
		return nil, exitcode.New(exitcode.Usage, "%s: want %s arguments, got %d (%s) (see syncfs %s --help)", fs.Name(), want, len(pos), strings.Join(pos, " "), fs.Name())
	}
	return pos, nil
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// helpOK turns errHelp into success.
func helpOK(err error) error {
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}

// given reports whether the flag name was on the command line (rather
// than at its default).
func (fs *flagSet) given(name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// positive checks duration flags that must be > 0 when given: a zero or
// negative --timeout would otherwise mean "give up at once" or "never",
// and a zero --upload-delay would silently become the default.
func (fs *flagSet) positive(names ...string) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		if err != nil || !slices.Contains(names, f.Name) {
			return
		}
		if d, ok := f.Value.(flag.Getter).Get().(time.Duration); ok && d <= 0 {
			hint := "use a positive duration such as 30s or 10m"
			if f.Name == "timeout" {
				hint += ", or leave --timeout out to wait without a limit"
			}
			err = exitcode.New(exitcode.Usage, "%s: --%s %v: must be positive (%s)", fs.Name(), f.Name, d, hint)
		}
	})
	return err
}
