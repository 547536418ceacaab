package lambda_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"switchboard/runtime/lambda"
)

// childEnv marks the test binary re-executed as a Lambda function process.
const childEnv = "LAMBDA_ADAPTER_TEST_FUNCTION"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		// Run as the function: aws-lambda-go's runtime loop against the
		// Runtime API named by AWS_LAMBDA_RUNTIME_API. It never returns.
		awslambda.Start(lambda.NewHandler(newTestApp().app))
	}
	os.Exit(m.Run())
}

// TestUnderLambdaRuntime runs the handler in aws-lambda-go's real runtime
// client, in a child process, against an in-process Runtime API: the request
// id and deadline arrive as the Runtime API's headers and must reach the
// handler's c.UserContext().
func TestUnderLambdaRuntime(t *testing.T) {
	deadline := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	payload := mustJSON(t, httpAPIEvent(get))
	responses := make(chan []byte, 1)
	stop := make(chan struct{})
	var served atomic.Bool

	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
		if served.Swap(true) {
			// No more work: hold the poll open as the Runtime API does.
			select {
			case <-stop:
			case <-r.Context().Done():
			}
			return
		}
		w.Header().Set("Lambda-Runtime-Aws-Request-Id", "rt-0001")
		w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(deadline.UnixMilli(), 10))
		w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:eu-west-1:123456789012:function:switchboard")
		_, _ = w.Write(payload)
	})
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/rt-0001/response", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		responses <- b
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/rt-0001/error", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		t.Errorf("function reported an error: %s", b)
		responses <- nil
		w.WriteHeader(http.StatusAccepted)
	})
	api := httptest.NewServer(mux)
	t.Cleanup(api.Close)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(api.URL, "http://"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(stop)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})

	select {
	case out := <-responses:
		if out == nil {
			t.FailNow()
		}
		got := parseResult(t, out)
		e := decodeEcho(t, got)
		if got.Status != http.StatusOK || e.RequestID != "rt-0001" || !e.Deadline.Equal(deadline) {
			t.Fatalf("status %d request id %q deadline %v; want 200 %q %v", got.Status, e.RequestID, e.Deadline, "rt-0001", deadline)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no response from the function within 60 s")
	}
}
