package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// randomPathScript makes wrk request path prefix + random key in [1, n] +
// suffix. Every target goes through it (a bare handler ignores the path),
// so wrk's Lua cost per request is the same whatever is measured. Each wrk
// thread seeds its own generator: seeded alike, they would ask for the
// same keys in the same order.
const randomPathScript = `local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
function init(args)
  math.randomseed(os.time() * 1000 + (id or 0))
end
request = function()
  return wrk.format(nil, %q .. math.random(1, %d) .. %q)
end
`

// wrkRun loads base with wrk and parses its figures. Each request asks for
// a random key in [1, keys]: "base/prefix{key}suffix".
func wrkRun(ctx context.Context, o Options, name, base, prefix, suffix string, keys int) (Result, error) {
	if keys < 1 {
		return Result{}, fmt.Errorf("wrk %s: keys must be at least 1", name)
	}
	args := []string{"-t", strconv.Itoa(o.Threads), "-c", strconv.Itoa(o.Connections),
		"-d", fmt.Sprintf("%ds", int(o.Duration.Seconds())), "--latency"}
	if o.WrkTimeout > 0 {
		args = append(args, "--timeout", fmt.Sprintf("%ds", int(o.WrkTimeout.Seconds())))
	}
	script := filepath.Join(os.TempDir(), fmt.Sprintf("tablecast-bench-%d.lua", os.Getpid()))
	if err := os.WriteFile(script, []byte(fmt.Sprintf(randomPathScript, prefix, keys, suffix)), 0o644); err != nil {
		return Result{}, err
	}
	defer os.Remove(script)
	args = append(args, "-s", script)
	url := base + prefix + "1" + suffix
	out, err := exec.CommandContext(ctx, "wrk", append(args, url)...).CombinedOutput()
	if err != nil {
		return Result{}, fmt.Errorf("wrk %s: %w\n%s", url, err, out)
	}
	r, err := parseWrk(string(out))
	r.Name, r.URL = name, base+prefix+"{key}"+suffix
	fmt.Printf("  %-36s %9.0f req/s  p50 %.3f ms  p99 %.3f ms  errors %d\n", name, r.ReqPerS, r.P50Ms, r.P99Ms, r.Errors)
	if err == nil && r.Errors*1000 > r.Requests {
		// Mostly errors (a 404 is fast): a figure that measures nothing.
		err = fmt.Errorf("wrk %s: %d of %d requests failed (non-2xx/3xx or socket errors)", r.URL, r.Errors, r.Requests)
	}
	return r, err
}

var (
	reReqs    = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	reTotal   = regexp.MustCompile(`(\d+) requests in`)
	reNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	reSockErr = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	rePct     = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$`)
)

func parseWrk(out string) (Result, error) {
	var r Result
	m := reReqs.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk output:\n%s", out)
	}
	r.ReqPerS, _ = strconv.ParseFloat(m[1], 64)
	if m := reTotal.FindStringSubmatch(out); m != nil {
		r.Requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := reNon2xx.FindStringSubmatch(out); m != nil {
		r.Errors, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := reSockErr.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseInt(s, 10, 64)
			r.Errors += n
		}
	}
	for _, m := range rePct.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		switch m[3] {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		if m[1] == "50" {
			r.P50Ms = v
		} else {
			r.P99Ms = v
		}
	}
	return r, nil
}

func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func machine() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	model := ""
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			model = strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
			break
		}
	}
	n, _ := exec.Command("nproc").Output()
	return fmt.Sprintf("%s, %s cores; load generator wrk shares the cores", model, strings.TrimSpace(string(n)))
}
