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

// randomPathScript makes wrk request path prefix + random key in [1, n] + suffix.
const randomPathScript = `math.randomseed(os.time())
request = function()
  return wrk.format(nil, %q .. math.random(1, %d) .. %q)
end
`

// wrkRun loads url with wrk and parses its figures. With keys > 0 each
// request asks for a random key: url is then "base/prefix{key}suffix".
func wrkRun(ctx context.Context, o Options, name, base, prefix, suffix string, keys int) (Result, error) {
	args := []string{"-t", strconv.Itoa(o.Threads), "-c", strconv.Itoa(o.Connections),
		"-d", fmt.Sprintf("%ds", int(o.Duration.Seconds())), "--latency"}
	url := base + prefix + suffix
	if keys > 0 {
		script := filepath.Join(os.TempDir(), fmt.Sprintf("tablecast-bench-%d.lua", os.Getpid()))
		if err := os.WriteFile(script, []byte(fmt.Sprintf(randomPathScript, prefix, keys, suffix)), 0o644); err != nil {
			return Result{}, err
		}
		defer os.Remove(script)
		args = append(args, "-s", script)
		url = base + prefix + "1" + suffix
	}
	out, err := exec.CommandContext(ctx, "wrk", append(args, url)...).CombinedOutput()
	if err != nil {
		return Result{}, fmt.Errorf("wrk %s: %w\n%s", url, err, out)
	}
	r, err := parseWrk(string(out))
	r.Name, r.URL = name, url
	fmt.Printf("  %-28s %9.0f req/s  p50 %.3f ms  p99 %.3f ms  errors %d\n", name, r.ReqPerS, r.P50Ms, r.P99Ms, r.Errors)
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
