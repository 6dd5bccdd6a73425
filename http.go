package tablecast

import (
	"encoding/json"
	"log/slog"
	"net/http"
)

// Response headers every tablecast response may carry.
const (
	HeaderTXID   = "Tablecast-Txid"
	HeaderRegion = "Tablecast-Region"
	HeaderNode   = "Tablecast-Node"
)

// HeaderValue is h.Get(key) for a key already in canonical form (as every
// header name constant of tablecast is): a map lookup, without the
// canonicalisation Header.Get does on every call.
func HeaderValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// StatusOf maps an error code to its HTTP status: the one place that does.
func StatusOf(code string) int {
	switch code {
	case EINVALID:
		return http.StatusBadRequest
	case ENOTFOUND:
		return http.StatusNotFound
	case EUNAUTHORIZED:
		return http.StatusUnauthorized
	case EFORBIDDEN:
		return http.StatusForbidden
	case ECONFLICT:
		return http.StatusConflict
	case ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case EUNAVAILABLE:
		return http.StatusServiceUnavailable
	case EINDOUBT:
		return http.StatusBadGateway
	default:
		return http.StatusInternalServerError
	}
}

// WriteError writes err as a Datasette-style JSON error body:
// {"ok":false,"error":"…","status":N}. Internal errors are logged, not shown.
func WriteError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	code := ErrorCode(err)
	status := StatusOf(code)
	if code == EINTERNAL && r.Context().Err() != nil {
		// The client went away: nothing to tell it, nothing to log.
		status = http.StatusServiceUnavailable
	} else if code == EINTERNAL && logger != nil {
		logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	WriteJSON(w, status, map[string]any{"ok": false, "error": ErrorMessage(err), "status": status})
}

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
