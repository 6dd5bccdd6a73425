package devcluster

// sampleRequests build the dev cluster's demo database (LoadSample).
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
