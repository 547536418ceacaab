package bedrock

import (
	"bytes"
	"io"
	"net/http"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// NewHTTPClient is the HTTP client of every Bedrock request: one kept-alive
// pool (a new TLS handshake costs the waiting caller a round trip or two),
// and request bodies held in memory before they are sent. The SDK closes a
// request's body once the response has begun; on a streamed answer that
// can come before the transport has read the body's end, and the transport
// then fails the request and tears down the connection mid-stream. A body
// read beforehand cannot be closed under it.
func NewHTTPClient() *http.Client {
	tr := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConnsPerHost = 64
		t.IdleConnTimeout = 90 * time.Second
	}).GetTransport()
	return &http.Client{Transport: bufferedBodies{next: tr}}
}

// bufferedBodies reads each request's body before handing the request on.
type bufferedBodies struct{ next http.RoundTripper }

func (b bufferedBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return b.next.RoundTrip(r)
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
	return b.next.RoundTrip(r)
}
