// Package cache is the on-disk cache of decoded frames that makes a
// re-read of remote results local: the read-only mount's --cache-dir.
//
// Why it is built this way:
//
//   - Entries are keyed by a frame's identity: the tree (a hash of the
//     store and journal, so two remotes never share or poison entries),
//     the inode, the data object's sequence number and the frame's offset
//     in it. Data objects are immutable and never reuse a sequence number,
//     so an entry never goes stale: a new version of a file refers to new
//     frames, and the entries of old ones age out.
//   - Several processes may share one cache directory (a mount and a
//     second mount, or two users' tools on a shared home). Every write
//     goes to a temporary file that is renamed into place, so a reader
//     sees a whole entry or none; a file that vanishes between listing
//     and reading is a miss; and every read checks the entry's length and
//     crc32c against what the manifest says, so a torn or corrupted entry
//     is a miss (and is removed), never bad data.
//   - The size limit is kept by evicting least recently used entries
//     (file modification times, refreshed on hits), by whichever process
//     sees the total pass the limit; an flock makes concurrent evictions
//     take turns rather than fight.
//   - Writes are asynchronous and best effort: a full write queue drops
//     an entry rather than slow a read down.
package cache
