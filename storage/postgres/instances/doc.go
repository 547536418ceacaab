// Package instances shows, with tests only, that complete switchboard
// instances (handlers on real HTTP listeners, worker pools, a fake Twilio)
// sharing one PostgreSQL database behave as one service: any instance may
// take any webhook, retries racing their originals store each effect once,
// work abandoned by a dead instance is finished by another, and a database
// outage turns into fast, retryable answers instead of hangs or lost writes.
package instances
