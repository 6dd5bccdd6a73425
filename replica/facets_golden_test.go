package replica

import (
	"bytes"
	"encoding/json"
	"net/url"
	"sort"
	"strings"
)

// facetsOf normalizes the facet_results of a JSON answer for the
// Datasette differential test: each facet (in name order) with its name,
// type and truncated flag, and its values with value and label typed,
// count, selected, and the toggle URL as normalizeToggle writes it; nil
// when the answer has none.
func facetsOf(body []byte) any {
	var v struct {
		FacetResults map[string]json.RawMessage `json:"facet_results"`
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if d.Decode(&v) != nil || v.FacetResults == nil {
		return nil
	}
	results := v.FacetResults
	if raw, ok := results["results"]; ok { // Datasette 1.0's shape, tablecast's
		results = nil
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		_ = d.Decode(&results)
	}
	if len(results) == 0 {
		return nil // Datasette 0.65 writes {} without facets
	}
	names := make([]string, 0, len(results))
	for name := range results {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []any
	for _, name := range names {
		var f struct {
			Name, Type string
			Truncated  bool
			ToggleURL  string `json:"toggle_url"`
			Results    []struct {
				Value, Label any
				Count        json.Number
				Selected     bool
				ToggleURL    string `json:"toggle_url"`
			}
		}
		d := json.NewDecoder(bytes.NewReader(results[name]))
		d.UseNumber()
		_ = d.Decode(&f)
		var values []any
		for _, r := range f.Results {
			values = append(values, map[string]any{"value": typed(r.Value), "label": typed(r.Label), "count": r.Count.String(),
				"selected": r.Selected, "toggle": normalizeToggle(r.ToggleURL)})
		}
		out = append(out, map[string]any{"key": name, "name": f.Name, "type": f.Type, "truncated": f.Truncated,
			"toggle": normalizeToggle(f.ToggleURL), "values": values})
	}
	return out
}

// normalizeToggle writes a toggle URL as whether it is absolute, its path
// and its parameters sorted (Datasette keeps the request's order, tablecast
// the canonical URL's), without _next and the parameters tablecast drops
// from canonical URLs.
func normalizeToggle(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "bad toggle_url " + s
	}
	kind := "relative "
	if u.IsAbs() {
		kind = "absolute "
	}
	var pairs []string
	for k, vs := range u.Query() {
		if k == "_next" || containsString(ignoredParams, k) {
			continue
		}
		for _, v := range vs {
			pairs = append(pairs, k+"="+v)
		}
	}
	sort.Strings(pairs)
	return kind + u.Path + "?" + strings.Join(pairs, "&")
}
