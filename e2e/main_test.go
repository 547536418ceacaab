package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"switchboard/assistant"
	"switchboard/handlers/twiliotest"
	"switchboard/runtime/service"
	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
	"switchboard/storage/localfs"
	"switchboard/storage/postgres"
	"switchboard/storage/postgres/pgtest"
)

// TestMain gives the tests throwaway PostgreSQL clusters (pgtest), started
// only when a test asks for a database.
func TestMain(m *testing.M) { pgtest.Main(m) }

// storeConfig is the production configuration for url, with the
// environment's defaults.
func storeConfig(url string) postgres.Config {
	return postgres.Config{URL: url, MaxConns: 10, ConnectTimeout: 3 * time.Second, QueryTimeout: 5 * time.Second}
}

// mustOpen opens a store (its own pool, as each instance has) and closes
// it when the test ends.
func mustOpen(t *testing.T, cfg postgres.Config) *postgres.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// mustBlobs returns a local blob store in a directory of its own, shared by
// the instances a test passes it to, as they would share a bucket.
func mustBlobs(t *testing.T) (*localfs.Store, string) {
	t.Helper()
	dir := t.TempDir()
	b, err := localfs.New(dir)
	if err != nil {
		t.Fatalf("localfs.New: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b, dir
}

// mustMedia starts the fake Twilio media server the instances share.
func mustMedia(t *testing.T) *twiliotest.Media {
	t.Helper()
	m := twiliotest.NewMedia(servicetest.AccountSID, servicetest.AuthToken)
	t.Cleanup(m.Close)
	return m
}

// cluster is a set of complete instances on one database.
type cluster struct {
	instances []*servicetest.Instance
	media     *twiliotest.Media
	blobs     storage.BlobStore
}

// clusterOptions tune startInstances.
type clusterOptions struct {
	// assistant returns instance i's assistant; nil means the scripted one.
	assistant func(i int) assistant.Assistant
	// configure adjusts every instance's configuration.
	configure func(c *service.Config)
	// configureEach adjusts instance i's configuration, after configure.
	configureEach func(i int, c *service.Config)
}

// startInstances starts n instances, each with its own pool on dbURL, its
// own listener and worker pool, sharing the media server and blob store.
func startInstances(t *testing.T, n int, dbURL string, o clusterOptions) *cluster {
	t.Helper()
	blobs, _ := mustBlobs(t)
	c := &cluster{media: mustMedia(t), blobs: blobs}
	for i := range n {
		var ai assistant.Assistant = assistant.NewScripted()
		if o.assistant != nil {
			ai = o.assistant(i)
		}
		configure := o.configure
		if o.configureEach != nil {
			configure = func(c *service.Config) {
				if o.configure != nil {
					o.configure(c)
				}
				o.configureEach(i, c)
			}
		}
		c.instances = append(c.instances, servicetest.Start(t, servicetest.Options{
			Calls: mustOpen(t, storeConfig(dbURL)), Blobs: blobs, Media: c.media, Assistant: ai, Configure: configure,
		}))
	}
	return c
}

// reply is one webhook exchange as Twilio would see it.
type reply struct {
	status     int
	retryAfter string
	body       string
	took       time.Duration
}

// webhookClient sends signed webhooks from any goroutine (servicetest's
// helpers stop the test on a transport error, which only the test's own
// goroutine may do). Errors come back to the caller.
var webhookClient = &http.Client{Timeout: 30 * time.Second}

// post sends a webhook signed for the public URL to the instance at base.
func post(ctx context.Context, base, path string, form url.Values) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twiliotest.Sign(servicetest.AuthToken, servicetest.PublicBaseURL+path, form))
	start := time.Now()
	resp, err := webhookClient.Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, fmt.Errorf("POST %s: reading the answer: %w", path, err)
	}
	return reply{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(b), took: time.Since(start)}, nil
}

// get fetches path (health endpoints need no token).
func get(ctx context.Context, base, path string) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return reply{}, err
	}
	start := time.Now()
	resp, err := webhookClient.Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(b), took: time.Since(start)}, nil
}

// mustCall reads a call straight from a store, failing the test if it cannot.
func mustCall(t *testing.T, s storage.Store, sid string) storage.Call {
	t.Helper()
	c, err := s.GetCall(t.Context(), sid)
	if err != nil {
		t.Fatalf("GetCall %s: %v", sid, err)
	}
	return c
}

// turnForm is the form of caller turn speech on call.
func turnForm(call twiliotest.Call, speech string) url.Values {
	return call.Form("SpeechResult", speech, "Confidence", "0.91", "CallStatus", "in-progress")
}

// statusForm is a call-status callback reporting status.
func statusForm(call twiliotest.Call, status string, seq int) url.Values {
	return call.Form("CallStatus", status, "SequenceNumber", fmt.Sprint(seq), "CallDuration", "42",
		"CallbackSource", "call-progress-events", "Timestamp", "Mon, 30 Nov 2026 10:00:0"+fmt.Sprint(seq)+" +0000")
}

// recordingForm is the recording-status callback for a completed recording.
func recordingForm(call twiliotest.Call, media *twiliotest.Media, recSID string) url.Values {
	return call.Form("RecordingSid", recSID, "RecordingUrl", media.RecordingURL(recSID), "RecordingStatus", "completed",
		"RecordingDuration", "42", "RecordingChannels", "2", "RecordingSource", "StartCallRecordingTwiML",
		"RecordingStartTime", "Mon, 30 Nov 2026 10:00:00 +0000")
}
