package bedrock

import (
	"bytes"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// BufferBodies wraps the HTTP client of Bedrock requests so that each
// request's body is read into memory before c sends it. The SDK closes a
// request's body once the response has begun; on a streamed answer that
// can come before the transport has read the body's end, and the
// transport then fails the request and tears the connection down
// mid-stream. A body read beforehand cannot be closed under it.
func BufferBodies(c aws.HTTPClient) aws.HTTPClient { return bufferedBodies{next: c} }

type bufferedBodies struct{ next aws.HTTPClient }

func (b bufferedBodies) Do(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return b.next.Do(r)
	}
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.ContentLength = int64(len(body))
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return b.next.Do(r)
}
