// Package lease keeps one writer per remote prefix (design invariant 6): a
// mount creates a lease object under the prefix with a conditional put
// (remote.PutOptions.IfAbsent), so of two mounts racing for one prefix
// exactly one wins, and the other fails with a message naming the holder.
//
// The lease object, at key "lease" under the store's root, is JSON:
//
//	{"version":1,"host":"node17","pid":4242,"pid_start":8812345,
//	 "boot_id":"6f1c...","mountpoint":"/scratch/job","state_dir":"/var/lib/syncfs/job",
//	 "started":"2026-02-01T10:00:00Z","renewed":"2026-02-01T10:05:30Z",
//	 "token":"9b2e...32 hex digits"}
//
// The token is random per Acquire and is what makes a lease ours: Renew and
// Release compare it, so a mount whose lease was taken over notices
// (ErrLost) instead of deleting the new holder's lease.
//
// A lease is never broken on age alone: a holder on another node that has
// not renewed for an hour may be partitioned, not dead. It is taken over
//
//   - with force (the CLI's --force), whoever holds it; or
//   - automatically when the holder ran on this same host and is provably
//     gone: the host has rebooted since (boot_id differs), or no process has
//     the holder's pid, or the process with that pid started at another
//     time (pid_start, from /proc/PID/stat, differs: the pid was reused).
//     This is crash recovery on the node where the job runs: restarting
//     syncfs after a crash of the daemon needs no --force.
//
// A takeover overwrites the object. Two takeovers racing could both
// believe they won; the loser finds out at its next Renew (ErrLost), which
// the daemon treats as fatal. Releasing deletes the object only if its
// token is still ours.
package lease
