// Command syncfs mounts a directory whose writes are journaled and shipped
// to object storage, and reads results back. See docs/cli.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/syncfs/syncfs/internal/exitcode"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "syncfs: %v\n", err)
	}
	os.Exit(exitcode.Of(err))
}

// command is one subcommand: name, one-line summary, and its run function.
type command struct {
	name, args, summary string
	run                 func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"mount", "--backing DIR --remote URL [--state DIR] [--exclude GLOB]... MOUNTPOINT", "mount a journaled directory that ships its writes to URL", runMount},
		{"unmount", "[--flush] [--timeout DUR] MOUNTPOINT", "unmount, waiting for the daemon to exit", runUnmount},
		{"flush", flushArgs, "ship everything written so far; with --wait, until the remote holds it", runFlush},
		{"status", "[--json] MOUNTPOINT", "show what a mount has still to ship", runStatus},
		{"watch", watchArgs, "without FUSE: watch a directory and ship what changes in it", runWatch},
		{"recover", recoverArgs, "ship what a dead daemon's journal holds, without mounting", runRecover},
		{"publish", publishArgs, "put a plain copy of every file under the remote's files/ prefix, for any S3 tool; sends only changed parts", runPublish},
		{"verify", verifyArgs, "compare a local tree with the remote, end to end; exit 1 on any difference", runVerify},
		{"mount", roMountArgs, "mount a remote tree read-only, to browse results", runMount},
		{"ls", lsArgs, "list a directory (or describe a file) of a remote tree, like ls -l", runLs},
		{"cat", catArgs, "write a file of a remote tree (or a range of it) to stdout", runCat},
		{"get", getArgs, "copy a file or a directory of a remote tree into LOCALDIR, verified and resumable", runGet},
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return exitcode.New(exitcode.Usage, "no command given")
		}
		return nil
	}
	if args[0] == "--version" || args[0] == "version" {
		fmt.Fprintln(stdout, "syncfs", version)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	return exitcode.New(exitcode.Usage, "unknown command %q; run syncfs --help for the list", args[0])
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: syncfs COMMAND [OPTIONS] ARGS")
	fmt.Fprintln(w)
	for _, c := range commands() {
		fmt.Fprintf(w, "  syncfs %s %s\n      %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run syncfs COMMAND --help for a command's options. Exit codes: docs/cli.md.")
}
