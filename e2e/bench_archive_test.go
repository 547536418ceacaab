package e2e

import (
	"bufio"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"switchboard/handlers/twiliotest"
	"switchboard/runtime/worker"
	"switchboard/storage"
	"switchboard/storage/memory"
	s3store "switchboard/storage/s3"
)

// Settings of the archive benchmark, from the environment:
//
//	ARCHIVE_BENCH_MIB  recording size (default 512)
//	FAKECLOUD_URL      a running cmd/fakecloud to use instead of starting one
//	                   (its -recording-size then decides the size)
const (
	benchAccount   = "AC00000000000000000000000000000bec"
	benchAuthToken = "bench-auth-token"
	benchBucket    = "switchboard-bench"
)

// BenchmarkArchive archives a large recording the way production does —
// the worker downloads it from Twilio and streams it through Put (transfer
// manager, default 8 MiB parts, 2 at a time) into S3 — with Twilio and S3
// faked by cmd/fakecloud in another process, so that this process's memory
// is the archiving process's alone. Each iteration also copies the same
// media between the same endpoints with plain HTTP: the GET from the fake
// Twilio streamed as the body of one unsigned PUT (iocopy), and as a
// sequential unsigned multipart upload with the store's part size
// (iocopy-multipart). The three legs take turns going first, so a busy
// machine slows them alike.
//
// Reported, beside ns/op (all legs):
//
//	archive-MB/s, iocopy-MB/s,  throughput of each leg (MB = 10^6 bytes)
//	iocopy-multipart-MB/s
//	archive/iocopy,             archive's throughput over each copy's
//	archive/iocopy-multipart
//	peak-RSS-MiB                largest rise of the process's peak resident
//	                            set (VmHWM, reset before each archive) over
//	                            its resident set just before that archive
//	go-peak-MiB                 largest rise of memory mapped by the Go
//	                            runtime and not released, sampled every 5 ms
//
// Nothing here is asserted: the figures are for the reader.
func BenchmarkArchive(b *testing.B) {
	size := int64(512) << 20
	if v := os.Getenv("ARCHIVE_BENCH_MIB"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			b.Fatalf("ARCHIVE_BENCH_MIB=%q is not a positive number of MiB", v)
		}
		size = n << 20
	}
	base := os.Getenv("FAKECLOUD_URL")
	if base == "" {
		base = startFakecloud(b, size)
	}
	size = mediaSize(b, base)

	ctx := context.Background()
	client := s3api.New(s3api.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDBENCH", "secret", ""),
		BaseEndpoint: aws.String(base),
		UsePathStyle: true,
	})
	store, err := s3store.NewWithClient(client, s3store.Config{Bucket: benchBucket})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := client.CreateBucket(ctx, &s3api.CreateBucketInput{Bucket: aws.String(benchBucket)}); err != nil && !strings.Contains(err.Error(), "BucketAlready") {
		b.Fatalf("creating the bucket: %v", err)
	}
	calls := memory.New()
	call := twiliotest.NewCall(benchAccount)
	if _, _, err := calls.StartCall(ctx, storage.NewCall{SID: call.CallSID, AccountSID: benchAccount, From: call.From, To: call.To, Direction: "inbound"}, storage.Turn{}); err != nil {
		b.Fatal(err)
	}
	pool := worker.New(worker.Config{
		Size: 1, PollInterval: 10 * time.Millisecond, Lease: time.Hour, MaxAttempts: 1,
		BackoffBase: time.Second, BackoffMax: time.Second, SummaryTimeout: time.Minute,
	}, worker.Deps{Calls: calls, Work: calls, Blobs: store, Twilio: worker.NewTwilio(base, benchAccount, benchAuthToken), Log: slog.New(slog.DiscardHandler)})
	wctx, stopWorkers := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { pool.Run(wctx) })
	b.Cleanup(func() { stopWorkers(); wg.Wait() })

	// Each leg returns the time its transfer took; the checks and clean-up
	// after it are not counted.
	archive := func(mem *memoryWatch) time.Duration {
		b.Helper()
		sid := twiliotest.SID("RE")
		start := time.Now()
		_, _, err := calls.AddRecording(ctx, storage.Recording{
			SID: sid, CallSID: call.CallSID, AccountSID: benchAccount,
			SourceURL: base + "/2010-04-01/Accounts/" + benchAccount + "/Recordings/" + sid,
		})
		if err != nil {
			b.Fatal(err)
		}
		pool.Notify()
		var rec storage.Recording
		for rec.State == "" || rec.State == storage.RecordingPending {
			time.Sleep(2 * time.Millisecond)
			if rec, err = calls.GetRecording(ctx, call.CallSID, sid); err != nil {
				b.Fatal(err)
			}
		}
		took := time.Since(start)
		mem.stop()
		b.StopTimer()
		defer b.StartTimer()
		if want := mediaSHA256(b, base, sid); rec.State != storage.RecordingStored || rec.Size != size || rec.SHA256 != want {
			b.Fatalf("archived %s: %s, %d bytes, sha256 %s (%s); want stored, %d bytes, sha256 %s", sid, rec.State, rec.Size, rec.SHA256, rec.LastError, size, want)
		}
		if err := store.Delete(ctx, rec.BlobKey); err != nil {
			b.Fatal(err)
		}
		return took
	}
	copyPlain := func() time.Duration {
		b.Helper()
		sid := twiliotest.SID("RE")
		start := time.Now()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/2010-04-01/Accounts/"+benchAccount+"/Recordings/"+sid+".wav", nil)
		req.SetBasicAuth(benchAccount, benchAuthToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		objectURL := base + "/" + benchBucket + "/iocopy/" + sid + ".wav"
		put, _ := http.NewRequestWithContext(ctx, http.MethodPut, objectURL, resp.Body)
		put.ContentLength = resp.ContentLength
		put.Header.Set("Content-Type", "audio/wav")
		presp, err := http.DefaultClient.Do(put)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, presp.Body)
		presp.Body.Close()
		if presp.StatusCode != http.StatusOK {
			b.Fatalf("plain PUT: %s", presp.Status)
		}
		took := time.Since(start)
		b.StopTimer()
		defer b.StartTimer()
		del, _ := http.NewRequestWithContext(ctx, http.MethodDelete, objectURL, nil)
		if dresp, err := http.DefaultClient.Do(del); err == nil {
			dresp.Body.Close()
		}
		return took
	}

	// copyMultipart is the same copy as a sequential multipart upload with
	// the store's part size, each part's body read straight from the
	// download: what S3 must do for the archive, without the SDK.
	copyMultipart := func() time.Duration {
		b.Helper()
		sid := twiliotest.SID("RE")
		start := time.Now()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/2010-04-01/Accounts/"+benchAccount+"/Recordings/"+sid+".wav", nil)
		req.SetBasicAuth(benchAccount, benchAuthToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		objectURL := base + "/" + benchBucket + "/iocopy/" + sid + ".wav"
		var created struct {
			UploadID string `xml:"UploadId"`
		}
		plainS3(b, http.MethodPost, objectURL+"?uploads", nil, 0, &created)
		upload := objectURL + "?uploadId=" + url.QueryEscape(created.UploadID)
		var done strings.Builder
		done.WriteString("<CompleteMultipartUpload>")
		for part, left := 1, resp.ContentLength; left > 0; part++ {
			n := min(left, s3store.DefaultPartSize)
			etag := plainS3(b, http.MethodPut, fmt.Sprintf("%s&partNumber=%d", upload, part), io.LimitReader(resp.Body, n), n, nil)
			fmt.Fprintf(&done, "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", part, etag)
			left -= n
		}
		done.WriteString("</CompleteMultipartUpload>")
		plainS3(b, http.MethodPost, upload, strings.NewReader(done.String()), int64(done.Len()), nil)
		took := time.Since(start)
		b.StopTimer()
		defer b.StartTimer()
		plainS3(b, http.MethodDelete, objectURL, nil, 0, nil)
		return took
	}

	var archiveTime, copyTime, multipartTime time.Duration
	var peakRSS, peakGo uint64
	var rssKnown bool
	for i := 0; b.Loop(); i++ {
		legs := []func(){
			func() {
				b.StopTimer()
				mem := startMemoryWatch()
				b.StartTimer()
				archiveTime += archive(mem)
				peakRSS, peakGo = max(peakRSS, mem.rss), max(peakGo, mem.goMem)
				rssKnown = mem.rssKnown
			},
			func() { copyTime += copyPlain() },
			func() { multipartTime += copyMultipart() },
		}
		// Rotate which leg goes first.
		legs = append(legs[i%3:], legs[:i%3]...)
		for _, leg := range legs {
			leg()
		}
	}
	mbps := func(d time.Duration) float64 { return float64(size) * float64(b.N) / 1e6 / d.Seconds() }
	b.ReportMetric(mbps(archiveTime), "archive-MB/s")
	b.ReportMetric(mbps(copyTime), "iocopy-MB/s")
	b.ReportMetric(mbps(multipartTime), "iocopy-multipart-MB/s")
	b.ReportMetric(mbps(archiveTime)/mbps(copyTime), "archive/iocopy")
	b.ReportMetric(mbps(archiveTime)/mbps(multipartTime), "archive/iocopy-multipart")
	if rssKnown {
		b.ReportMetric(float64(peakRSS)/(1<<20), "peak-RSS-MiB")
	} else {
		b.Log("peak-RSS-MiB needs Linux's /proc/self/status and clear_refs: not reported")
	}
	b.ReportMetric(float64(peakGo)/(1<<20), "go-peak-MiB")
	b.Logf("%d MiB per recording, GOMAXPROCS %d, %d CPUs", size>>20, runtime.GOMAXPROCS(0), runtime.NumCPU())
}

// startFakecloud builds cmd/fakecloud and runs it in its own process with
// recordings of size bytes, stopped at cleanup; it returns its URL.
func startFakecloud(b *testing.B, size int64) string {
	b.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		b.Fatalf("building cmd/fakecloud needs the go command: %v", err)
	}
	bin := filepath.Join(b.TempDir(), "fakecloud")
	if out, err := exec.Command(gobin, "build", "-o", bin, "switchboard/cmd/fakecloud").CombinedOutput(); err != nil {
		b.Fatalf("building cmd/fakecloud: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-bucket", benchBucket,
		"-recording-size", strconv.FormatInt(size, 10), "-twilio-auth-token", benchAuthToken)
	cmd.Stderr = io.Discard
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("starting fakecloud: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	u, ok := strings.CutPrefix(strings.TrimSpace(line), "FAKECLOUD_URL=")
	if err != nil || !ok {
		b.Fatalf("fakecloud did not say where it listens: %q, %v", line, err)
	}
	return u
}

// plainS3 sends one unsigned request to the fake S3 (which checks no
// signature) and decodes an XML answer into out when given; it returns the
// answer's ETag.
func plainS3(b *testing.B, method, u string, body io.Reader, n int64, out any) string {
	b.Helper()
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		b.Fatal(err)
	}
	req.ContentLength = n
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode/100 != 2 {
		b.Fatalf("%s %s: %s %s %v", method, u, resp.Status, data, err)
	}
	if out != nil {
		if err := xml.Unmarshal(data, out); err != nil {
			b.Fatalf("%s %s: %v in %s", method, u, err, data)
		}
	}
	return resp.Header.Get("ETag")
}

// mediaSize asks the fake Twilio how large its recordings are.
func mediaSize(b *testing.B, base string) int64 {
	b.Helper()
	req, _ := http.NewRequest(http.MethodHead, base+"/2010-04-01/Accounts/"+benchAccount+"/Recordings/"+twiliotest.SID("RE")+".wav", nil)
	req.SetBasicAuth(benchAccount, benchAuthToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength <= 0 {
		b.Fatalf("HEAD media at %s: %s, length %d", base, resp.Status, resp.ContentLength)
	}
	return resp.ContentLength
}

// mediaSHA256 is the SHA-256 of what the fake Twilio serves for sid.
func mediaSHA256(b *testing.B, base, sid string) string {
	b.Helper()
	resp, err := http.Get(base + "/_fakecloud/recordings/" + sid + "/sha256")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("media sha256: %d %s %v", resp.StatusCode, body, err)
	}
	return strings.TrimSpace(string(body))
}

// memoryWatch measures how far one archive raises the process's memory:
// after stop, rss and goMem hold the rise of the peak resident set and of
// the Go runtime's sampled peak over their baselines.
type memoryWatch struct {
	rss, goMem uint64
	rssKnown   bool

	baseRSS uint64
	baseGo  uint64
	peakGo  uint64
	done    chan struct{}
	stopped chan struct{}
}

// startMemoryWatch collects garbage and returns freed memory to the OS, so
// the baseline is what the process really holds, resets the kernel's peak
// resident set (writing 5 to /proc/self/clear_refs; Linux only, else rss
// stays unknown), and samples the Go runtime's mapped memory until stop.
func startMemoryWatch() *memoryWatch {
	runtime.GC()
	debug.FreeOSMemory()
	w := &memoryWatch{done: make(chan struct{}), stopped: make(chan struct{})}
	w.baseGo = goMapped()
	w.baseRSS = procStatus("VmRSS")
	if w.baseRSS == 0 || os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) != nil {
		w.baseRSS = 0
	}
	go func() {
		defer close(w.stopped)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			w.peakGo = max(w.peakGo, goMapped())
			select {
			case <-w.done:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// stop ends the watch and sets rss and goMem.
func (w *memoryWatch) stop() {
	close(w.done)
	<-w.stopped
	if hwm := procStatus("VmHWM"); w.baseRSS != 0 && hwm > w.baseRSS {
		w.rss = hwm - w.baseRSS
		w.rssKnown = true
	}
	if w.peakGo > w.baseGo {
		w.goMem = w.peakGo - w.baseGo
	}
}

var goMemSamples = []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}

// goMapped is the memory the Go runtime has mapped and not given back.
func goMapped() uint64 {
	s := make([]metrics.Sample, len(goMemSamples))
	copy(s, goMemSamples)
	metrics.Read(s)
	return s[0].Value.Uint64() - s[1].Value.Uint64()
}

// procStatus reads a "kB" field of /proc/self/status, in bytes; 0 when
// there is no such file or field.
func procStatus(field string) uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			var kb uint64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err == nil {
				return kb << 10
			}
		}
	}
	return 0
}
