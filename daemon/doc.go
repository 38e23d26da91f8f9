// Package daemon is what runs once a command has parsed its flags: a
// writable mount, or a watch of a plain directory (nodes without FUSE),
// with its journal, uploader, reconciler, control socket and metrics
// (Run); the read-only mount (RunReadOnly); and shipping a dead mount's
// journal without mounting (Recover). cmd/syncfs builds a Config and
// calls one of them, so that tests can drive a daemon without the binary.
//
// The control socket's answers (Status, FlushProgress, ROStatus) are part
// of the CLI contract (docs/cli.md): status --json prints them.
package daemon
