package journal

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bbolt trusts its file: some kinds of page damage make it panic, and one
// of those panics happens in a goroutine bbolt starts while opening, where
// no recover can reach it. A journal damaged by a bad disk must give the
// user an error to act on, never a crash, so Open first checks an existing
// journal in a child process (this same binary, re-executed), whose crash
// is just an exit status here.

const verifyEnv = "SYNCFS_JOURNAL_VERIFY"

func init() {
	// Runs before main in every binary that imports journal, syncfs and
	// test binaries alike: when re-executed as the checker, check and exit.
	path := os.Getenv(verifyEnv)
	if path == "" {
		return
	}
	if err := verifyInProcess(path); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	os.Exit(0)
}

// verifyFile checks the journal at path in a child process.
func verifyFile(path string) error {
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot find own executable to check the journal: %w", err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), verifyEnv+"="+path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if err == nil {
		return nil
	}
	msg := strings.TrimSpace(out.String())
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i] // a panic's first line says what broke
	}
	if msg == "" {
		msg = err.Error()
	}
	return &CorruptError{Path: path, Detail: msg}
}

func verifyInProcess(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	j := &Journal{db: db}
	return j.Check()
}
