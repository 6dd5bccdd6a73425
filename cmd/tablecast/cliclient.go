package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/tablecast/tablecast"
)

// callJSON sends a JSON request with a bearer token to a node's public API
// (the operator's commands, and tests) and decodes the answer.
func callJSON(ctx context.Context, client *http.Client, method, url, token string, body any) (map[string]any, error) {
	var out map[string]any
	err := callInto(ctx, client, method, url, token, body, &out)
	return out, err
}

// callInto is callJSON decoding into out; an error answer is decoded too
// (when it is JSON), and its status and body make the error.
func callInto(ctx context.Context, client *http.Client, method, url, token string, body, out any) error {
	return tablecast.CallJSON(ctx, client, method, url, token, body, out)
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}
