package s3

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"switchboard/storage"
)

var (
	_ storage.BlobStore = (*Store)(nil)
	_ storage.Presigner = (*Store)(nil)
	_ storage.Pinger    = (*Store)(nil)
)

// Timeouts for the store's own housekeeping requests, which must finish even
// when the caller's context has already been cancelled (aborting a failed
// multipart upload, removing an object whose digest could not be recorded)
// or must not hold a readiness probe for long.
const (
	cleanupTimeout = 30 * time.Second
	pingTimeout    = 3 * time.Second
)

// Store is a BlobStore on one S3 bucket. It is safe for concurrent use.
type Store struct {
	cfg     Config
	client  *s3api.Client
	presign *s3api.PresignClient
	tm      *transfermanager.Client
	sse     types.ServerSideEncryption
	kmsKey  *string
	// versionPage is how many versions Delete lists at a time.
	versionPage int32

	now    func() time.Time
	pingMu sync.Mutex
	pinged time.Time // when the cached answer was obtained; zero: none
	pingOK error     // the cached answer
}

// New builds a Store whose client uses the AWS default configuration: the
// default credential chain (the instance role on EC2, the environment or a
// profile locally) and the region from cfg.Region (S3_REGION) or else the
// standard AWS variables.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("s3: loading AWS configuration: %w", err)
	}
	if cfg.Region != "" {
		awsCfg.Region = cfg.Region
	}
	if awsCfg.Region == "" {
		return nil, fmt.Errorf("s3: no AWS region: set S3_REGION or AWS_REGION (or AWS_DEFAULT_REGION, or a profile's region)")
	}
	client := s3api.NewFromConfig(awsCfg, func(o *s3api.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
			o.UsePathStyle = true
		}
	})
	return NewWithClient(client, cfg)
}

// NewWithClient builds a Store on an existing client, which tests point at
// an in-process S3 server. cfg.Endpoint is not applied: the client already
// says where S3 is.
func NewWithClient(client *s3api.Client, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Store{
		cfg:     cfg,
		client:  client,
		presign: s3api.NewPresignClient(client),
		sse:     types.ServerSideEncryptionAes256,
		now:     time.Now,

		versionPage: 1000,
	}
	if cfg.KMSKeyID != "" {
		s.sse = types.ServerSideEncryptionAwsKms
		s.kmsKey = aws.String(cfg.KMSKeyID)
	}
	s.tm = transfermanager.New(digestingClient{client}, func(o *transfermanager.Options) {
		o.PartSizeBytes = cfg.PartSize
		// Equal to the part size, so the transfer manager never buffers
		// more than one part before deciding between a single PutObject
		// and a multipart upload (its default buffers 16 MiB).
		o.MultipartUploadThreshold = cfg.PartSize
		o.Concurrency = cfg.Concurrency
		// SHA-256 on every request: S3 verifies each part (and a single
		// upload's whole object) before accepting it.
		o.ChecksumAlgorithm = tmtypes.ChecksumAlgorithmSha256
		// Abort a failed multipart upload even when ctx was cancelled.
		o.FailTimeout = cleanupTimeout
	})
	return s, nil
}

// objectKey is the S3 key of a blob key: the configured prefix, verbatim,
// then the key. Callers have checked key with storage.CheckKey.
func (s *Store) objectKey(key string) *string { return aws.String(s.cfg.Prefix + key) }

// Ping reports whether the bucket is reachable and usable with the current
// credentials (HeadBucket). The answer, good or bad, is reused for
// Config.PingTTL so frequent readiness probes cost one request per interval.
func (s *Store) Ping(ctx context.Context) error {
	s.pingMu.Lock()
	defer s.pingMu.Unlock()
	if !s.pinged.IsZero() && s.now().Sub(s.pinged) < s.cfg.PingTTL {
		return s.pingOK
	}
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	_, err := s.client.HeadBucket(pctx, &s3api.HeadBucketInput{Bucket: aws.String(s.cfg.Bucket)})
	if err != nil {
		// Whatever the cause (network, credentials, a missing bucket), the
		// store cannot serve: readiness must fail. The cause stays for logs.
		err = storage.Wrap(storage.ErrUnavailable, translate(err, "ping", s.cfg.Bucket), "blob store unreachable")
		if ctx.Err() != nil {
			// The caller gave up; that says nothing about the bucket.
			return err
		}
	}
	s.pinged, s.pingOK = s.now(), err
	return err
}
