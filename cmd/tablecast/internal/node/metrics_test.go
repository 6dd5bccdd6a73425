package node

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/tablecast/tablecast"
	"github.com/tablecast/tablecast/replica"
)

// BenchmarkInstrument measures what counting and timing add to every
// request (route kind, status writer, counter, histogram), apart from
// net/http and the handler it wraps.
func BenchmarkInstrument(b *testing.B) {
	n := New(Options{Region: "syd"})
	h := newNodeMetrics(n).instrument(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	req := httptest.NewRequest("GET", "/demo/items/1.json", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := httptest.NewRecorder()
		for pb.Next() {
			w.Code = 0
			h.ServeHTTP(w, req)
		}
	})
}

// TestInstrument_CountsByStatus: every answer is counted under its route
// kind and status, whether the status has a child made once (100-599) or
// is looked up each time, and timed under its route kind.
func TestInstrument_CountsByStatus(t *testing.T) {
	n := New(Options{Region: "syd"})
	m := newNodeMetrics(n)
	h := m.instrument(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		if code == 0 {
			_, _ = w.Write([]byte("{}")) // implicit 200
			return
		}
		w.WriteHeader(code)
	}))
	for _, target := range []string{"/demo/t.json", "/demo/t.json?code=200", "/demo/t/1.json?code=404", "/demo/t/1.json?code=404", "/demo/t/1.json?code=404", "/demo/t.json?code=799", "/-/x?code=204"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", target, nil))
	}
	for _, c := range []struct {
		kind, status string
		want         float64
	}{{tablecast.RouteTable, "200", 2}, {tablecast.RouteRow, "404", 3}, {tablecast.RouteTable, "799", 1}, {tablecast.RouteAdmin, "204", 1}, {tablecast.RouteRow, "200", 0}} {
		if got := testutil.ToFloat64(m.requests.WithLabelValues(c.kind, c.status, "syd")); got != c.want {
			t.Errorf("requests{route=%s,status=%s} = %v, want %v", c.kind, c.status, got, c.want)
		}
	}
	if got := testutil.CollectAndCount(m.duration); got != len(tablecast.RouteLabels) {
		t.Errorf("%d duration series, want one per route kind (%d)", got, len(tablecast.RouteLabels))
	}
	if got := testutil.ToFloat64(m.notFound.WithLabelValues(tablecast.RouteRow, "syd")); got != 3 {
		t.Errorf("not found rows = %v, want 3", got)
	}
}

// TestInstrument_ClientClosed: an answer to a client that already went
// away (a sync write's other /-/wait calls, cancelled once one candidate
// confirmed) is counted as 499, not as the 504 or 503 nobody read; a
// failure with the client still there keeps its status.
func TestInstrument_ClientClosed(t *testing.T) {
	n := New(Options{Region: "syd"})
	m := newNodeMetrics(n)
	h := m.instrument(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // as handleWait's WaitTXID
		if r.URL.Query().Get("silent") == "" {
			w.WriteHeader(http.StatusGatewayTimeout)
		}
	}))
	for _, target := range []string{"/-/wait?db=x", "/-/wait?db=x&silent=1"} {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", target, nil).WithContext(ctx))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	timedOut := m.instrument(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-ctx.Done() // the handler's own timeout, the client still waiting
		w.WriteHeader(http.StatusGatewayTimeout)
	}))
	timedOut.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/-/wait?db=x", nil))
	for status, want := range map[string]float64{"499": 2, "504": 1, "200": 0} {
		if got := testutil.ToFloat64(m.requests.WithLabelValues(tablecast.RouteAdmin, status, "syd")); got != want {
			t.Errorf("requests{route=admin,status=%s} = %v, want %v", status, got, want)
		}
	}
}

// TestNode_OpenRegistry: each node has its own registry, so two nodes in
// one process register the same series; /metrics serves the node's series
// and the Go runtime's and process's, as the default registry did.
func TestNode_OpenRegistry(t *testing.T) {
	var handlers []http.Handler
	for _, region := range []string{"syd", "lhr"} {
		n := New(Options{Name: region + "-1", Region: region})
		if err := n.openRegistry(); err != nil {
			t.Fatal(err)
		}
		m := newNodeMetrics(n)
		if err := m.register(n.registry); err != nil {
			t.Fatalf("%s: %v", region, err)
		}
		n.registry.Unregister(m.state) // it reads LiteFS, which is not open here
		if _, err := registerCatchUpMetric(n.registry); err != nil {
			t.Fatalf("%s: %v", region, err)
		}
		if err := registerCacheMetrics(n.registry, replica.NewCache(1<<20)); err != nil {
			t.Fatalf("%s: %v", region, err)
		}
		handlers = append(handlers, n.metrics)
	}
	for i, h := range handlers {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		body := w.Body.String()
		for _, want := range []string{"go_goroutines ", "process_cpu_seconds_total ", "tablecast_cache_bytes ", "tablecast_http_request_duration_seconds_bucket{"} {
			if w.Code != http.StatusOK || !strings.Contains(body, want) {
				t.Errorf("node %d /metrics (%d) lacks %q", i, w.Code, want)
			}
		}
	}
}
