package main

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/tablecast/tablecast/replica"
)

// registerCacheMetrics exposes the response cache's counters. LiteFS
// registers its own metrics on the default registry.
func registerCacheMetrics(reg prometheus.Registerer, c *replica.Cache) error {
	stat := func(f func(replica.CacheStats) float64) func() float64 {
		return func() float64 { return f(c.Stats()) }
	}
	for _, col := range []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tablecast_cache_hits_total", Help: "Public reads answered from the response cache."},
			stat(func(s replica.CacheStats) float64 { return float64(s.Hits) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tablecast_cache_misses_total", Help: "Public reads not found in the response cache."},
			stat(func(s replica.CacheStats) float64 { return float64(s.Misses) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tablecast_cache_evictions_total", Help: "Responses evicted to stay within the cache's byte budget."},
			stat(func(s replica.CacheStats) float64 { return float64(s.Evictions) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tablecast_cache_bytes", Help: "Bytes held by the response cache."},
			stat(func(s replica.CacheStats) float64 { return float64(s.Bytes) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tablecast_cache_entries", Help: "Responses held by the response cache."},
			stat(func(s replica.CacheStats) float64 { return float64(s.Entries) })),
	} {
		if err := reg.Register(col); err != nil {
			return err
		}
	}
	return nil
}
