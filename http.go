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
