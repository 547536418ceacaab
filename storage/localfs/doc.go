// Package localfs is a storage.BlobStore on a local directory: the embedded
// default for the dev server and for tests, so recordings can be archived and
// played back with no cloud account.
//
// The directory holds three trees:
//
//	objects/<key>  the object's bytes, exactly as written, so an operator can
//	               find and play a recording with ordinary tools
//	meta/<key>     a small JSON sidecar: size, content type, SHA-256, mtime
//	tmp/           files being written; no key can name them
//
// Keys are checked with storage.CheckKey and must also be local paths
// (filepath.IsLocal) whose segments fit a file name (255 bytes; ErrInvalid
// otherwise), and every file operation goes through an os.Root opened
// on the directory, so neither a key nor a symbolic link planted inside the
// tree can reach a file outside it.
//
// A Put streams into a temporary file while hashing it, syncs it, then renames
// the sidecar and finally the object into place, and syncs their directories.
// The object's rename is the commit point: a failed or cancelled Put removes
// its temporary files and leaves the previous object as it was. Content type
// and SHA-256 live in a sidecar rather than being recomputed on every Stat or
// derived from the file name because a Put is told its content type and the
// archive worker wants the checksum of what was stored. Within one process a
// lock per key makes the two renames and every read of them appear atomic; a
// sidecar that does not describe the object's current file (another process
// racing, or a crash between the renames) is detected by its size and mtime
// and ignored: the object is then reported with an unknown SHA-256 and a
// content type derived from its extension, never with another version's.
//
// A key whose path clashes with another key's ("a" and "a/b") cannot be stored
// on a filesystem; Put reports storage.ErrConflict. Deleting an object leaves
// its (possibly empty) directories in place so a concurrent Put into them
// cannot lose its parent.
package localfs
