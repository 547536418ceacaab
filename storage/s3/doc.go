// Package s3 keeps recording audio in Amazon S3 (or an S3-compatible server)
// behind storage.BlobStore, storage.Presigner and storage.Pinger.
//
// Credentials come from the AWS default chain (the instance role on EC2, the
// environment or a profile locally) and the region from the standard AWS
// variables, so no key is ever configured here. Every object is written with
// server-side encryption: SSE-S3 (AES256) by default, SSE-KMS when a key id
// is configured.
//
// # Uploads
//
// Put streams through the SDK's transfer manager: objects smaller than one
// part go up in a single PutObject, larger ones as a multipart upload whose
// memory is bounded by part size × (concurrency + 2). A multipart upload that
// fails or is cancelled is aborted, so S3 never exposes a half-written object.
// (If the abort itself cannot reach S3, the incomplete upload stays invisible
// and costs storage until the bucket's AbortIncompleteMultipartUpload
// lifecycle rule removes it; the deployment must define one.)
//
// # SHA-256
//
// Put computes the object's SHA-256 while streaming and returns it; the
// caller records it in the database, which is the system of record. What
// can be stored with the object in S3 is constrained:
//
//   - S3's full-object checksums for multipart uploads exist only for the CRC
//     algorithms; a multipart SHA-256 checksum is a composite (a digest of the
//     part digests, suffixed "-N"), not the object's SHA-256.
//   - User metadata and tags given at upload time must be known before the
//     first byte is sent, when the digest is not yet known.
//   - Tagging after the upload needs a second permission pair, is mutable by
//     anyone who may tag, and is not implemented by common S3-compatible
//     servers (gofakes3 treats "PUT ?tagging" as an object overwrite).
//
// So the digest is kept as user metadata "sha256" (lowercase hex), which S3
// returns on every HEAD and GET, ranged or not:
//
//   - An object that fits in one part is complete in memory before its
//     PutObject is sent; the digest is added to that request as metadata and
//     as the native x-amz-checksum-sha256, which S3 verifies against the
//     bytes it received before accepting the object.
//   - A multipart object is copied onto itself once completed (a server-side
//     CopyObject replacing the metadata, keeping type and encryption). S3
//     verifies every part's SHA-256 on upload. Objects above CopyObject's
//     5 GiB limit are left without the metadata: Stat and Open then report an
//     empty SHA256, as the storage contract allows.
//
// If that copy fails the object is deleted (best effort) and Put fails, so a
// caller never records as stored an object whose digest S3 does not hold.
package s3
