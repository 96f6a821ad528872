package handlers

import "net/http"

// adminRoutes are the operators' routes: the audit API under /api/ and the
// dashboard at /. Register serves them behind an admin token.
func (a *API) adminRoutes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "", "no route %s %s", r.Method, clip(r.URL.Path))
	})
	if a.Audit != nil {
		a.registerAudit(mux)
	}
	if a.Dashboard != nil {
		a.Dashboard.Register(mux)
	}
	return mux
}
