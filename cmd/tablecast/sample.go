package main

import (
	"context"
	"net/http"
)

// sampleRequests build the dev cluster's demo database through the public
// write API: a public table of cities and a private table of customers.
var sampleRequests = []struct {
	path string
	body any
}{
	{"/demo/-/create", map[string]any{
		"table": "cities", "pk": "id",
		"columns": []map[string]string{{"name": "id", "type": "integer"}, {"name": "name", "type": "text"},
			{"name": "country", "type": "text"}, {"name": "population", "type": "integer"}},
		"rows": []map[string]any{
			{"id": 1, "name": "London", "country": "GB", "population": 8982000},
			{"id": 2, "name": "Sydney", "country": "AU", "population": 5312000},
			{"id": 3, "name": "San Jose", "country": "US", "population": 971233},
			{"id": 4, "name": "Tokyo", "country": "JP", "population": 13960000},
			{"id": 5, "name": "Lagos", "country": "NG", "population": 15388000},
		}}},
	{"/demo/-/create", map[string]any{
		"table": "customers", "pk": "id",
		"rows": []map[string]any{
			{"id": 1, "name": "Ada Lovelace", "email": "ada@example.com", "card": "4111-1111-1111-1111"},
			{"id": 2, "name": "Alan Turing", "email": "alan@example.com", "card": "5500-0000-0000-0004"},
		}}},
	{"/demo/cities/-/publish", map[string]any{}},
}

// loadSample sends the sample requests to the primary.
func loadSample(ctx context.Context, primaryURL, token string) error {
	for _, r := range sampleRequests {
		if _, err := postJSON(ctx, primaryURL+r.path, token, r.body); err != nil {
			return err
		}
	}
	return nil
}

// postJSON posts body with the token and decodes a 2xx JSON answer.
func postJSON(ctx context.Context, url, token string, body any) (map[string]any, error) {
	return callJSON(ctx, cliClient, http.MethodPost, url, token, body)
}
