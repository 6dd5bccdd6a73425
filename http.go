package tablecast

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
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
	case EFULL:
		return http.StatusInsufficientStorage
	case EUNKNOWN:
		return http.StatusBadGateway
	case ETIMEOUT:
		return http.StatusGatewayTimeout
	case EMETHOD:
		return http.StatusMethodNotAllowed
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
	if code == ETOOLARGE {
		// The connection is closed after this answer (net/http does once a
		// body limit was hit): say so, and read what the client is still
		// sending so that closing does not reset the connection and throw
		// the answer away before the client reads it.
		w.Header().Set("Connection", "close")
		WriteJSON(w, status, map[string]any{"ok": false, "error": ErrorMessage(err), "status": status})
		DiscardBody(w, r)
		return
	}
	WriteJSON(w, status, map[string]any{"ok": false, "error": ErrorMessage(err), "status": status})
}

// Bounds of DiscardBody: what a refused client may still send, and for how
// long, before the connection is closed on it anyway.
const (
	DiscardMaxBytes = 64 << 20
	DiscardMaxTime  = 10 * time.Second
)

// wellFormedQuery reports whether url.ParseQuery would accept q: every %
// followed by two hex digits, no semicolon. It allocates nothing (the read
// path calls it on every request with a query string).
func wellFormedQuery(q string) bool {
	params := 1
	for i := 0; i < len(q); i++ {
		switch q[i] {
		case '&':
			if params++; params > MaxQueryParams {
				return false
			}
		case ';':
			return false
		case '%':
			if i+2 >= len(q) || !isHex(q[i+1]) || !isHex(q[i+2]) {
				return false
			}
			i += 2
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// DiscardBody reads and drops the rest of a request body after the answer
// was written (an early 413), at most DiscardMaxBytes for at most
// DiscardMaxTime. A client that sends its whole body before reading the
// answer (most do) then reads it; closing a socket with unread data in it
// sends a TCP reset that can destroy the answer in the client's buffer.
// Past either bound the connection is closed as before.
func DiscardBody(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	if r.ContentLength > DiscardMaxBytes {
		return // cannot be read within the bound: no point waiting for it
	}
	_ = rc.SetReadDeadline(time.Now().Add(DiscardMaxTime))
	_, _ = io.CopyN(io.Discard, r.Body, DiscardMaxBytes)
}

// MaxQueryParams is the most parameters a query string may have: net/url
// refuses more (GODEBUG urlmaxqueryparams, 10000 by default), and
// Request.URL.Query() then silently drops every one of them, filters and
// _sync=1 included.
const MaxQueryParams = 10000

// CheckQuery answers a request whose query string has too many
// parameters or a malformed % escape (or another part url.ParseQuery
// refuses) with a JSON 400, where url.Values would silently drop them. net/http refuses a bad
// escape in the path itself, before any handler, with a plain-text 400
// that no handler can change.
func CheckQuery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if q := r.URL.RawQuery; q != "" && !wellFormedQuery(q) {
			if strings.Count(q, "&") >= MaxQueryParams {
				WriteError(w, r, nil, Errorf(EINVALID, "Too many query parameters: at most %d", MaxQueryParams))
				return
			}
			// Parsed again only to say what is wrong.
			_, err := url.ParseQuery(q)
			WriteError(w, r, nil, Errorf(EINVALID, "Malformed query string: %v", err))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// CallJSON sends body (nil: none) as JSON to url with token as a bearer
// token (none if ""), and decodes the answer into out (nil: dropped). An
// answer other than 2xx is an error naming its status and body; its JSON
// is still decoded into out, for callers that read the error's fields. At
// most 1 MiB of the answer is read.
func CallJSON(ctx context.Context, client *http.Client, method, url, token string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("%s %s: encode body: %w", method, url, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, url, err)
	}
	if resp.StatusCode/100 != 2 {
		if out != nil {
			_ = json.Unmarshal(raw, out) // best effort: the status is the error
		}
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, bytes.TrimSpace(raw))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, url, err)
	}
	return nil
}
