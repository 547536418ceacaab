package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"switchboard/storage"
)

// Open returns length bytes of the object from offset (length < 0: to the
// end) with one GetObject carrying an HTTP Range; BlobInfo.Size is the whole
// object's size. ErrNotFound when the object does not exist; ErrInvalid for
// a bad key, a negative offset or a range that starts past the end.
func (s *Store) Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, storage.BlobInfo, error) {
	if err := storage.CheckKey(key); err != nil {
		return nil, storage.BlobInfo{}, err
	}
	if offset < 0 {
		return nil, storage.BlobInfo{}, storage.Errorf(storage.ErrInvalid, "blob offset must not be negative")
	}
	if length > math.MaxInt64-offset {
		length = -1 // past any object's end: the same as "to the end"
	}
	if length == 0 {
		// HTTP cannot ask for zero bytes: check the object and the offset.
		return s.emptyRead(ctx, key, offset)
	}
	in := &s3api.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: s.objectKey(key)}
	ranged := offset > 0 || length > 0
	var opts []func(*s3api.Options)
	switch {
	case length > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))
	case offset > 0:
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", offset))
	}
	if ranged {
		// A whole-object checksum cannot validate part of the object.
		opts = append(opts, func(o *s3api.Options) { o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired })
	}
	out, err := s.client.GetObject(ctx, in, opts...)
	if err != nil {
		err = translate(err, "open", key)
		if errors.Is(err, storage.ErrInvalid) && ranged {
			// S3 refuses any range of an empty object and a range starting
			// at the end; both are an empty read, not a bad range.
			return s.emptyRead(ctx, key, offset)
		}
		return nil, storage.BlobInfo{}, err
	}
	info := storage.BlobInfo{
		Size:        aws.ToInt64(out.ContentLength),
		ContentType: aws.ToString(out.ContentType),
		SHA256:      digestOf(out.Metadata),
		ModTime:     aws.ToTime(out.LastModified).UTC(),
	}
	if cr := aws.ToString(out.ContentRange); cr != "" {
		total, ok := totalFromContentRange(cr)
		if !ok {
			out.Body.Close()
			return nil, storage.BlobInfo{}, fmt.Errorf("blob store open %s: unreadable Content-Range %q", key, cr)
		}
		info.Size = total
	}
	return out.Body, info, nil
}

// emptyRead answers a read of no bytes at offset: an empty reader when the
// object exists and offset is within it or at its end.
func (s *Store) emptyRead(ctx context.Context, key string, offset int64) (io.ReadCloser, storage.BlobInfo, error) {
	info, err := s.Stat(ctx, key)
	if err != nil {
		return nil, storage.BlobInfo{}, err
	}
	if offset > info.Size {
		return nil, storage.BlobInfo{}, storage.Errorf(storage.ErrInvalid, "blob range starts past the end (%d > %d)", offset, info.Size)
	}
	return io.NopCloser(bytes.NewReader(nil)), info, nil
}

// totalFromContentRange reads the complete length from "bytes a-b/total".
func totalFromContentRange(cr string) (int64, bool) {
	_, total, ok := strings.Cut(cr, "/")
	if !ok || total == "*" {
		return 0, false
	}
	n, err := strconv.ParseInt(total, 10, 64)
	return n, err == nil && n >= 0
}

// Stat returns the object's info with one HeadObject. ErrNotFound when the
// object does not exist; ErrInvalid for a bad key.
func (s *Store) Stat(ctx context.Context, key string) (storage.BlobInfo, error) {
	if err := storage.CheckKey(key); err != nil {
		return storage.BlobInfo{}, err
	}
	out, err := s.client.HeadObject(ctx, &s3api.HeadObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: s.objectKey(key)})
	if err != nil {
		return storage.BlobInfo{}, translate(err, "stat", key)
	}
	return storage.BlobInfo{
		Size:        aws.ToInt64(out.ContentLength),
		ContentType: aws.ToString(out.ContentType),
		SHA256:      digestOf(out.Metadata),
		ModTime:     aws.ToTime(out.LastModified).UTC(),
	}, nil
}

// digestOf returns the SHA-256 recorded in the object's metadata, or "" when
// none, or something that is not one, is there.
func digestOf(meta map[string]string) string {
	v := meta[metaSHA256]
	if len(v) != 64 {
		return ""
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return ""
		}
	}
	return v
}

// Delete erases the object: on a versioned bucket that means every version
// and delete marker of the key, not a new delete marker over audio that
// could still be restored. It first deletes the key as usual, so the object
// disappears at once (on an unversioned bucket that is all there is), then
// lists the key's versions and delete markers and deletes each by version
// ID, listing again from the start until a listing finds none. Each round
// removes what it found, so progress does not depend on continuation markers
// (which some S3-compatible servers leave out), and the final, empty listing
// shows nothing is left. Deleting a missing object succeeds. ErrInvalid for
// a bad key; ErrUnavailable when S3 cannot be reached.
//
// It needs s3:DeleteObject on the objects, s3:ListBucketVersions on the
// bucket and s3:DeleteObjectVersion on the objects.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := storage.CheckKey(key); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3api.DeleteObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: s.objectKey(key)})
	if err = translate(err, "delete", key); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	for round := 0; ; round++ {
		versions, err := s.versions(ctx, key)
		if err != nil || len(versions) == 0 {
			return err
		}
		if round == maxDeleteRounds {
			return fmt.Errorf("blob store delete %s: versions still listed after %d rounds of deleting them", key, round)
		}
		if err := s.deleteVersions(ctx, key, versions); err != nil {
			return err
		}
	}
}

// maxDeleteRounds bounds Delete's list-and-delete rounds: with pages of
// 1,000 that is 100,000 versions of one key, far beyond what re-uploads of
// a recording make, and it stops a server that acknowledges version
// deletions without doing them from keeping Delete busy for ever.
const maxDeleteRounds = 100

// versions lists up to a page of the versions and delete markers of exactly
// key (the listing is by prefix, and other keys may extend key).
func (s *Store) versions(ctx context.Context, key string) ([]types.ObjectIdentifier, error) {
	objKey := s.objectKey(key)
	out, err := s.client.ListObjectVersions(ctx, &s3api.ListObjectVersionsInput{
		Bucket:  aws.String(s.cfg.Bucket),
		Prefix:  objKey,
		MaxKeys: aws.Int32(s.versionPage),
	})
	if err != nil {
		return nil, translate(err, "list versions of", key)
	}
	var ids []types.ObjectIdentifier
	add := func(k, v *string) {
		if aws.ToString(k) == *objKey {
			ids = append(ids, types.ObjectIdentifier{Key: objKey, VersionId: v})
		}
	}
	for _, v := range out.Versions {
		add(v.Key, v.VersionId)
	}
	for _, m := range out.DeleteMarkers {
		add(m.Key, m.VersionId)
	}
	return ids, nil
}

// deleteVersions deletes the given versions of key with one DeleteObjects
// request (at most 1,000, as versions returns). A version that is already
// gone counts as deleted.
func (s *Store) deleteVersions(ctx context.Context, key string, ids []types.ObjectIdentifier) error {
	out, err := s.client.DeleteObjects(ctx, &s3api.DeleteObjectsInput{
		Bucket: aws.String(s.cfg.Bucket),
		Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)},
	})
	if err != nil {
		return translate(err, "delete versions of", key)
	}
	var errs []error
	for _, e := range out.Errors {
		switch code := aws.ToString(e.Code); {
		case notFoundCodes[code], code == "NoSuchVersion":
		case unavailableCodes[code]:
			return storage.Wrap(storage.ErrUnavailable, fmt.Errorf("%s: %s", code, aws.ToString(e.Message)), "blob store unavailable")
		default:
			errs = append(errs, fmt.Errorf("version %s: %s: %s", aws.ToString(e.VersionId), code, aws.ToString(e.Message)))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("blob store delete versions of %s: %w", key, errors.Join(errs...))
	}
	return nil
}

// PresignGet returns a GET link to the object valid for ttl, or for the
// configured RECORDING_URL_TTL when ttl <= 0. The link is signed locally
// without checking the object exists. A link signed with the instance role's
// temporary credentials stops working when they expire, whatever its ttl,
// which is one more reason to keep ttl short. ErrInvalid for a bad key or a
// ttl above the configured maximum.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := storage.CheckKey(key); err != nil {
		return "", err
	}
	if ttl <= 0 {
		ttl = s.cfg.URLTTL
	}
	if ttl < MinURLTTL || ttl > MaxURLTTL {
		return "", storage.Errorf(storage.ErrInvalid, "link lifetime must be between %s and %s", MinURLTTL, MaxURLTTL)
	}
	req, err := s.presign.PresignGetObject(ctx,
		&s3api.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: s.objectKey(key)},
		s3api.WithPresignExpires(ttl))
	if err != nil {
		return "", translate(err, "presign", key)
	}
	return req.URL, nil
}
