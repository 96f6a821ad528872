package bench

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/riptides/driverbuild/buildapi"
	"github.com/riptides/driverbuild/handlers"
	"github.com/riptides/driverbuild/kernel"
)

// BareHandler is the limit the service is measured against: net/http
// reading the same body into the same struct and answering a fixed JSON,
// with nothing behind it.
func BareHandler() http.Handler {
	done := buildapi.Done{
		Status: buildapi.StatusDone, Package: "riptides-driver-ubuntu-6.8.0-1053-gcp_v0.1.2_amd64.deb",
		DownloadURL: "http://127.0.0.1/riptides/driver/releases/download/v0.1.2/riptides-driver-ubuntu-6.8.0-1053-gcp_v0.1.2_amd64.deb",
		SHA256:      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /build", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, handlers.MaxBodyBytes))
		var req kernel.Request
		if err == nil {
			err = json.Unmarshal(body, &req)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(done)
	})
	mux.HandleFunc("GET /status/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(buildapi.Build{BuildID: r.PathValue("id"), Status: buildapi.StatusDone, DownloadURL: done.DownloadURL})
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "{}\n") })
	return mux
}

// ServeBare serves BareHandler on addr until ctx ends.
func ServeBare(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: BareHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
