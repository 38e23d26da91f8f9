// Package browse reads a syncfs remote (docs/format.md) as a tree of
// files: the read-only mount (browse/rofs), `syncfs ls`, `cat` and `get`
// are thin layers over it.
//
// Why it is shaped this way:
//
//   - Everything it reads comes from a store anyone may have written, so it
//     trusts nothing: every name goes through format.CheckName and must
//     match the key it was found under, every manifest and frame is
//     checksummed by the format decoders, every frame a manifest points to
//     must lie inside an object the manifest lists, and nothing is
//     allocated by what an object claims beyond the format's limits
//     (manifests are read with a size cap, frames are ≤ 1 MiB, one GET
//     fetches at most maxRun bytes). A hostile entry is skipped in a
//     listing, or fails the one file it concerns, with one log line.
//   - A read fetches only the frames that cover it: segment manifests say
//     where each byte is, adjacent frames of one object are fetched with
//     one ranged GET, and decoded frames are kept in a memory cache and,
//     if configured, an on-disk cache (browse/cache) keyed by the frame's
//     immutable identity (inode, object sequence, offset in the object).
//   - One read never mixes versions. A File is pinned to one inode
//     manifest; all of one ReadAt comes from it. When the writer has
//     deleted what an old manifest refers to (its GC runs right after the
//     new manifest is committed), the read fails with ErrStale and
//     Tree.Follow re-reads the manifest and redoes the whole read with the
//     new version.
//
// Lock order: Tree.mu (the table of frames in flight) may be held while
// taking the frame cache's lock (internal/lru), never the reverse, and
// never while calling the store. The segment cache, dentCache and warner
// have their own mutexes, taken alone.
package browse
