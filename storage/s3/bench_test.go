package s3

import (
	"context"
	"io"
	"math/rand/v2"
	"testing"

	"switchboard/storage/s3/s3test"
)

// benchSize is one recording's worth of audio: about an hour of 8 kHz
// 16-bit WAV.
const benchSize = 64 << 20

// benchStream is the generated source both benchmarks read.
func benchStream(seed uint64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	return io.LimitReader(rand.NewChaCha8(s), benchSize)
}

// BenchmarkPut compares Put into gofakes3 over loopback HTTP (default part
// size and concurrency) with a plain io.Copy of the same generated stream to
// io.Discard, in the same run: the ratio of their MB/s is what the store
// costs over just reading the source.
func BenchmarkPut(b *testing.B) {
	b.Run("Store", func(b *testing.B) {
		f := s3test.New(b)
		s, err := NewWithClient(f.Client(0), Config{Bucket: s3test.Bucket})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		b.SetBytes(benchSize)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := s.Put(ctx, "bench/rec.wav", benchStream(uint64(i)), "audio/wav"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("IOCopyToDiscard", func(b *testing.B) {
		b.SetBytes(benchSize)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := io.Copy(io.Discard, benchStream(uint64(i))); err != nil {
				b.Fatal(err)
			}
		}
	})
}
