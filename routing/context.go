package routing

import (
	"context"
	"net/http"
	"net/url"
)

func contextWith(r *http.Request, primary *url.URL) context.Context {
	return context.WithValue(r.Context(), primaryKey{}, primary)
}
