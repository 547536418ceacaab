// Package e2e holds switchboard's whole-service tests: complete instances
// built by runtime/service exactly as cmd/switchboard builds them (through
// servicetest), on real HTTP listeners with worker pools, a fake Twilio, and
// real or faked backing services: PostgreSQL clusters started for the test
// (pgtest) and an S3 with fault injection (s3test).
//
// They show what no single package can: a recording travelling from
// Twilio's callback through the worker into S3 and back out as a presigned
// link, surviving S3 and Twilio faults without losing or corrupting audio;
// several instances on one database behaving as one service (any instance
// may take any webhook, retries racing their originals store each effect
// once, work abandoned by a dead instance is finished by another); and a
// database outage turning into fast, retryable answers instead of hangs or
// lost writes. BenchmarkArchive measures the archive pipeline's memory and
// throughput against plain copies.
//
// The package holds tests only.
package e2e
