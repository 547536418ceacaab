package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"switchboard/runtime/service/servicetest"
	"switchboard/storage"
	"switchboard/storage/memory"
)

// downStore is a call store whose database is unreachable.
type downStore struct{ *memory.Store }

func (downStore) Ping(context.Context) error {
	return storage.Errorf(storage.ErrUnavailable, "database unreachable")
}

func TestHealth(t *testing.T) {
	in := servicetest.Start(t, servicetest.Options{})
	get := func(path string) servicetest.Response {
		req, _ := http.NewRequest(http.MethodGet, in.URL+path, nil)
		return in.Do(req)
	}
	if r := get("/healthz"); r.Status != http.StatusOK {
		t.Errorf("healthz: %d", r.Status)
	}
	if r := get("/readyz"); r.Status != http.StatusOK || !strings.Contains(r.Body, `"status":"ready"`) {
		t.Errorf("readyz: %d %s", r.Status, r.Body)
	}
	t.Run("MetricsNeedToken", func(t *testing.T) {
		if r := get("/metrics"); r.Status != http.StatusUnauthorized {
			t.Errorf("metrics without token: %d", r.Status)
		}
		r := in.API(http.MethodGet, "/metrics")
		if r.Status != http.StatusOK || !strings.Contains(r.Body, "switchboard_http_request_duration_seconds") {
			t.Errorf("metrics: %d %.200s", r.Status, r.Body)
		}
	})
	t.Run("Draining", func(t *testing.T) {
		in.Server.Drain()
		r := get("/readyz")
		if r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Body, `"draining":true`) {
			t.Errorf("readyz while draining: %d %s", r.Status, r.Body)
		}
		if r := get("/healthz"); r.Status != http.StatusOK {
			t.Errorf("healthz while draining: %d", r.Status)
		}
	})
	t.Run("StoreDown", func(t *testing.T) {
		down := servicetest.Start(t, servicetest.Options{Calls: downStore{memory.New()}})
		req, _ := http.NewRequest(http.MethodGet, down.URL+"/readyz", nil)
		r := down.Do(req)
		if r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Body, `"calls":"unavailable"`) {
			t.Errorf("readyz with the store down: %d %s", r.Status, r.Body)
		}
	})
}
