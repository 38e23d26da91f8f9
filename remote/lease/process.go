package lease

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// deadHere reports whether h was held by a process on this host that is
// provably gone (see the package comment). Anything uncertain counts as
// alive.
func deadHere(h Holder) bool {
	host, err := os.Hostname()
	if err != nil || h.Host != host {
		return false
	}
	if boot := bootID(); h.BootID != "" && boot != "" && h.BootID != boot {
		return true // the host rebooted since
	}
	if h.PID <= 0 {
		return false
	}
	if err := syscall.Kill(h.PID, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	if zombie(h.PID) {
		return true // killed, not yet reaped by its parent: it serves nothing
	}
	if h.PIDStart != 0 {
		if start, err := procStart(h.PID); err == nil && start != h.PIDStart {
			return true // the pid now belongs to another process
		}
	}
	return false
}

// bootID identifies the current boot of this host ("" if unknown).
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// procStart returns when process pid started, in clock ticks after boot
// (field 22 of /proc/PID/stat), which together with the pid identifies a
// process across pid reuse.
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may contain spaces
	// and parentheses: the fields after it start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc/PID/stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), so field 22 is f[19].
	if len(f) < 20 {
		return 0, errors.New("malformed /proc/PID/stat")
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// zombie reports whether process pid has exited and waits to be reaped
// (state Z or X in /proc/PID/stat): a daemon killed while its parent, often
// init, has not reaped it yet.
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	return b[i+2] == 'Z' || b[i+2] == 'X'
}
