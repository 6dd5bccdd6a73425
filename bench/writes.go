package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// writeConcurrency is how many writers run at once in each round.
var writeConcurrency = []int{1, 8}

// writesGoal is the aim (LiteFS's FAQ: about 100 write
// transactions per second through FUSE).
const writesGoal = 300

// runWrites: single-row write transactions per second through the write
// API (one /-/insert of one row each, the write acknowledged once
// committed), sent straight to the primary and through a replica's
// forwarder, by one writer and by 8 at once.
func runWrites(ctx context.Context, o Options) (*Report, error) {
	fmt.Println("starting a local cluster…")
	c, err := startCluster(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer c.Stop()
	if err := c.Post(ctx, "/w/-/create", map[string]any{"table": "t", "pk": "id",
		"columns": []map[string]string{{"name": "id", "type": "integer"}, {"name": "v", "type": "text"}, {"name": "n", "type": "integer"}}}); err != nil {
		return nil, err
	}
	replica := c.Replica()
	r := &Report{reportHead: newHead("writes", map[string]any{"duration": o.Duration.String(), "concurrency": writeConcurrency}),
		Ratios: map[string]float64{}}
	var next atomic.Int64
	for _, target := range []struct{ name, base string }{{"primary", c.Nodes[0].APIURL}, {"via replica " + replica.Region, replica.APIURL}} {
		for _, n := range writeConcurrency {
			res, err := writeLoad(ctx, target.base+"/w/t/-/insert", c.Token, n, o.Duration, &next)
			if err != nil {
				return nil, err
			}
			res.Name = fmt.Sprintf("%s, %d writer(s)", target.name, n)
			r.Results = append(r.Results, res)
			r.Ratios[fmt.Sprintf("%s x%d / goal %d tx/s", target.name, n, writesGoal)] = res.ReqPerS / writesGoal
			fmt.Printf("  %-34s %7.0f tx/s  p50 %6.2f ms  p99 %6.2f ms  errors %d\n", res.Name, res.ReqPerS, res.P50Ms, res.P99Ms, res.Errors)
		}
	}
	r.Notes = append(r.Notes,
		"req/s is committed single-row write transactions per second: POST /w/t/-/insert {\"row\":{…}} over keep-alive connections, each answered 201 after COMMIT",
		fmt.Sprintf("LiteFS's FAQ gives about 100 write transactions/s through FUSE; the issue's goal is %d+", writesGoal))
	return r, nil
}

// writeLoad sends single-row inserts to url from n writers for d and
// measures committed writes per second and their latency.
func writeLoad(ctx context.Context, url, token string, n int, d time.Duration, next *atomic.Int64) (Result, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	var (
		mu       sync.Mutex
		lat      []time.Duration
		errs     int64
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			var bad int64
			var lastErr error
			for time.Now().Before(deadline) && ctx.Err() == nil {
				id := next.Add(1)
				took, err := writeOne(ctx, client, url, token, id)
				if err != nil {
					bad++
					lastErr = err
					continue
				}
				mine = append(mine, took)
			}
			mu.Lock()
			lat, errs = append(lat, mine...), errs+bad
			if firstErr == nil {
				firstErr = lastErr
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if len(lat) == 0 {
		return Result{}, fmt.Errorf("no write succeeded on %s: %v", url, firstErr)
	}
	if errs > 0 {
		fmt.Printf("  %s: %d errors, e.g. %v\n", url, errs, firstErr)
	}
	return Result{URL: url, ReqPerS: float64(len(lat)) / elapsed.Seconds(), P50Ms: pct(lat, 0.50), P99Ms: pct(lat, 0.99),
		Requests: int64(len(lat)), Errors: errs}, nil
}

// writeOne inserts row id and waits for its answer.
func writeOne(ctx context.Context, client *http.Client, url, token string, id int64) (time.Duration, error) {
	body := fmt.Sprintf(`{"row":{"id":%d,"v":"value %d","n":%d}}`, id, id, id*7)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte(body)))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return 0, fmt.Errorf("insert %d: %s", id, resp.Status)
	}
	return time.Since(start), nil
}
