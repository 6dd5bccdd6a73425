package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
)

// poolPairs are the ratios the cache scenario's goals are judged by:
// name, then the targets over each other, round by round.
var poolPairs = []struct{ name, a, b string }{
	{"hot / bare (goal >= 0.8)", "hot point read (cache)", "bare net/http 200 B"},
	{"hot + writes to bench.other / hot", "hot + 20 writes/s to bench.other", "hot point read (cache)"},
	{"control: bare + writes / bare", "bare + 20 writes/s to bench.other", "bare net/http 200 B"},
	{"hot + writes / bare + writes", "hot + 20 writes/s to bench.other", "bare + 20 writes/s to bench.other"},
	{"hot / bare + a cached read's headers", "hot point read (cache)", "bare + a cached read's headers, in the replica process"},
}

var reRound = regexp.MustCompile(`^(.*), round (\d+)$`)

// poolCache reads cache scenario reports (their JSON files) and prints
// each goal's ratio over every round of every run: one run's median
// moves with the machine's noise more than the figure it is after.
func poolCache(w io.Writer, files []string) error {
	if len(files) == 0 {
		return fmt.Errorf("-pool: name the cache reports' JSON files (bench/results/*-cache.json)")
	}
	pooled := make([][]float64, len(poolPairs))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("-pool: %w", err)
		}
		var rep Report
		if err := json.Unmarshal(b, &rep); err != nil {
			return fmt.Errorf("-pool: %s: %w", f, err)
		}
		if rep.Scenario != "cache" {
			return fmt.Errorf("-pool: %s is a %q report, not cache", f, rep.Scenario)
		}
		rounds := map[string]map[int]float64{} // target → round → req/s
		for _, r := range rep.Results {
			if m := reRound.FindStringSubmatch(r.Name); m != nil {
				i, _ := strconv.Atoi(m[2])
				if rounds[m[1]] == nil {
					rounds[m[1]] = map[int]float64{}
				}
				rounds[m[1]][i] = r.ReqPerS
			}
		}
		for i, p := range poolPairs {
			for round, a := range rounds[p.a] {
				if b, ok := rounds[p.b][round]; ok && b > 0 {
					pooled[i] = append(pooled[i], a/b)
				}
			}
		}
	}
	fmt.Fprintf(w, "%d runs\n\n| ratio | rounds | median | mean | 95%% interval of the mean | quartiles |\n|---|---|---|---|---|---|\n", len(files))
	for i, p := range poolPairs {
		v := pooled[i]
		if len(v) < 2 {
			return fmt.Errorf("-pool: fewer than two rounds of %s", p.name)
		}
		mean, sd := meanSD(v)
		half := 1.96 * sd / math.Sqrt(float64(len(v)))
		fmt.Fprintf(w, "| %s | %d | %.3f | %.3f | %.3f-%.3f | %.2f-%.2f |\n", p.name, len(v),
			medianOf(v), mean, mean-half, mean+half, quantile(v, 0.25), quantile(v, 0.75))
	}
	return nil
}

func meanSD(v []float64) (mean, sd float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	for _, x := range v {
		sd += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(sd / float64(len(v)-1))
}
