package s3

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"switchboard/storage"
)

// metaSHA256 is the user-metadata name under which the object's SHA-256
// (lowercase hex) is kept; S3 returns it as x-amz-meta-sha256.
const metaSHA256 = "sha256"

// maxCopySize is the largest object CopyObject accepts in one request.
const maxCopySize = 5 << 30

// Put streams r into the bucket under key and returns its size and SHA-256.
// The object appears only once complete; a failed multipart upload is
// aborted. Errors: ErrInvalid for a bad key; ErrUnavailable when S3 cannot
// be reached, throttles or fails; a failure reading r is returned wrapped,
// keeping r's own kind. An empty contentType is derived from
// the key's extension.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, contentType string) (storage.BlobInfo, error) {
	if err := storage.CheckKey(key); err != nil {
		return storage.BlobInfo{}, err
	}
	if contentType == "" {
		contentType = storage.ContentTypeByExt(key)
	}
	src := &digestReader{r: r, h: sha256.New()}
	out, err := s.tm.UploadObject(ctx, &transfermanager.UploadObjectInput{
		Bucket:               aws.String(s.cfg.Bucket),
		Key:                  s.objectKey(key),
		Body:                 src,
		ContentType:          aws.String(contentType),
		ServerSideEncryption: tmtypes.ServerSideEncryption(s.sse),
		SSEKMSKeyID:          s.kmsKey,
	})
	if src.err != nil {
		// The source failed; whatever S3 said after that is a consequence.
		return storage.BlobInfo{}, fmt.Errorf("blob store put %s: reading source: %w", key, src.err)
	}
	if err != nil {
		return storage.BlobInfo{}, translate(err, "put", key)
	}
	sum := hex.EncodeToString(src.h.Sum(nil))
	if aws.ToString(out.UploadID) != "" && src.n <= maxCopySize {
		if err := s.recordDigest(ctx, key, aws.ToString(out.ETag), contentType, sum); err != nil {
			s.discard(ctx, key, aws.ToString(out.ETag))
			return storage.BlobInfo{}, err
		}
	}
	// S3 reads after writes consistently: the object is stored now. A Stat
	// here could see a concurrent Put's version, so the info is our own.
	return storage.BlobInfo{
		Size:        src.n,
		ContentType: contentType,
		SHA256:      sum,
		ModTime:     s.now().UTC(),
	}, nil
}

// recordDigest copies a completed multipart object onto itself with the
// digest as metadata: the only way to attach metadata that was not known
// when the upload began. Type and encryption must be restated, since a
// metadata-replacing copy does not keep them. The copy is conditional on
// etag, the upload's own version: if a concurrent Put replaced the object
// meanwhile, this Put's version is already superseded and nothing is left
// to record.
func (s *Store) recordDigest(ctx context.Context, key, etag, contentType, sum string) error {
	in := &s3api.CopyObjectInput{
		Bucket:               aws.String(s.cfg.Bucket),
		Key:                  s.objectKey(key),
		CopySource:           aws.String(s.cfg.Bucket + "/" + s.cfg.Prefix + key),
		MetadataDirective:    types.MetadataDirectiveReplace,
		Metadata:             map[string]string{metaSHA256: sum},
		ContentType:          aws.String(contentType),
		ServerSideEncryption: s.sse,
		SSEKMSKeyId:          s.kmsKey,
	}
	if etag != "" {
		in.CopySourceIfMatch = aws.String(etag)
	}
	_, err := s.client.CopyObject(ctx, in)
	if isPreconditionFailed(err) {
		return nil
	}
	return translate(err, "record digest of", key)
}

// discard removes the version etag of an object Put could not finish, with
// its own deadline so it runs even when ctx is what failed, and only if no
// concurrent Put has replaced it. A failure is left for the next Put of the
// key to overwrite: nothing records the object as stored.
func (s *Store) discard(ctx context.Context, key, etag string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	in := &s3api.DeleteObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: s.objectKey(key)}
	if etag != "" {
		in.IfMatch = aws.String(etag)
	}
	_, _ = s.client.DeleteObject(ctx, in)
}

// digestReader hashes and counts what the transfer manager reads, which it
// does sequentially from one goroutine, and remembers the source's error so
// Put can tell a failed source from a failed upload.
type digestReader struct {
	r   io.Reader
	h   hash.Hash
	n   int64
	err error
}

func (d *digestReader) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.h.Write(p[:n])
	d.n += int64(n)
	if err != nil && !errors.Is(err, io.EOF) {
		d.err = err
	}
	return n, err
}

// digestingClient is the client the transfer manager uploads with. Its one
// change: a single-request upload, whose body the transfer manager has fully
// read before sending, carries the body's SHA-256 as metadata and as the
// native checksum S3 verifies. Multipart uploads pass through unchanged.
type digestingClient struct{ *s3api.Client }

func (c digestingClient) PutObject(ctx context.Context, in *s3api.PutObjectInput, opts ...func(*s3api.Options)) (*s3api.PutObjectOutput, error) {
	body, ok := in.Body.(io.ReadSeeker)
	if !ok {
		return nil, fmt.Errorf("single upload body %T cannot be rewound to digest", in.Body)
	}
	h := sha256.New()
	if _, err := io.Copy(h, body); err != nil {
		return nil, err
	}
	if _, err := body.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	sum := h.Sum(nil)
	meta := make(map[string]string, len(in.Metadata)+1)
	for k, v := range in.Metadata {
		meta[k] = v
	}
	meta[metaSHA256] = hex.EncodeToString(sum)
	in.Metadata = meta
	in.ChecksumAlgorithm = types.ChecksumAlgorithmSha256
	in.ChecksumSHA256 = aws.String(base64.StdEncoding.EncodeToString(sum))
	return c.Client.PutObject(ctx, in, opts...)
}
