package main

import (
	"context"
	"net/http"
)

// postJSON posts body with the token and decodes a 2xx JSON answer.
func postJSON(ctx context.Context, url, token string, body any) (map[string]any, error) {
	return callJSON(ctx, cliClient, http.MethodPost, url, token, body)
}
