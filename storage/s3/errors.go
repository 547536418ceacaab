package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"switchboard/storage"
)

// S3 error codes, grouped by the kind they become. Codes are checked before
// HTTP statuses because HEAD responses carry no body, hence no code.
var (
	notFoundCodes = map[string]bool{"NoSuchKey": true, "NotFound": true}
	invalidCodes  = map[string]bool{"InvalidRange": true, "KeyTooLongError": true}
	// Transient on S3's side: the same request may succeed later.
	unavailableCodes = map[string]bool{
		"SlowDown": true, "Throttling": true, "ThrottlingException": true,
		"RequestLimitExceeded": true, "TooManyRequests": true,
		"RequestTimeout": true, "RequestTimeTooSkewed": true,
		"InternalError": true, "ServiceUnavailable": true,
	}
)

// translate turns an SDK error into one of the storage kinds, or an internal
// error with detail for logs (access denied, a missing bucket, bad
// credentials: configuration faults an operator must see, not a client's).
// op and key name the request in the message.
func translate(err error, op, key string) error {
	if err == nil {
		return nil
	}
	msg := fmt.Sprintf("blob store %s %s", op, key)

	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code := apiErr.ErrorCode()
		switch {
		case notFoundCodes[code]:
			return storage.Wrap(storage.ErrNotFound, err, "blob not found")
		case invalidCodes[code]:
			return storage.Wrap(storage.ErrInvalid, err, "blob range or key not acceptable")
		case unavailableCodes[code]:
			return storage.Wrap(storage.ErrUnavailable, err, "blob store unavailable")
		}
	}
	var respErr *awshttp.ResponseError
	// A request that got no answer is a ResponseError with status 0.
	if errors.As(err, &respErr) && respErr.HTTPStatusCode() != 0 {
		switch st := respErr.HTTPStatusCode(); {
		case st == http.StatusNotFound && (apiErr == nil || apiErr.ErrorCode() != "NoSuchBucket"):
			return storage.Wrap(storage.ErrNotFound, err, "blob not found")
		case st == http.StatusRequestedRangeNotSatisfiable:
			return storage.Wrap(storage.ErrInvalid, err, "blob range not satisfiable")
		case st == http.StatusTooManyRequests, st == http.StatusRequestTimeout, st >= 500:
			return storage.Wrap(storage.ErrUnavailable, err, "blob store unavailable")
		}
		// 403 and other 4xx: the request or the configuration is wrong.
		return fmt.Errorf("%s: %w", msg, err)
	}
	if transient(err) {
		return storage.Wrap(storage.ErrUnavailable, err, "blob store unavailable")
	}
	return fmt.Errorf("%s: %w", msg, err)
}

// transient reports errors that never got an answer from S3: timeouts,
// refused or cut connections, an exhausted retry budget.
func transient(err error) bool {
	var (
		sendErr  *smithyhttp.RequestSendError
		netErr   net.Error
		quotaErr ratelimit.QuotaExceededError
	)
	return errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.As(err, &sendErr) ||
		errors.As(err, &netErr) ||
		errors.As(err, &quotaErr)
}

// isPreconditionFailed reports S3's answer to a conditional request whose
// condition (an ETag match) no longer holds.
func isPreconditionFailed(err error) bool {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "PreconditionFailed" {
		return true
	}
	var respErr *awshttp.ResponseError
	return errors.As(err, &respErr) && respErr.HTTPStatusCode() == http.StatusPreconditionFailed
}
