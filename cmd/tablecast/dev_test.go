package main

import (
	"slices"
	"strings"
	"testing"
)

func TestParseRegions(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{in: "lhr,syd,sjc", want: []string{"lhr", "syd", "sjc"}},
		{in: "lhr", want: []string{"lhr"}},
		{in: " lhr , us-east ", want: []string{"lhr", "us-east"}},
		{in: "", err: `"" is not a region name`},
		{in: "lhr,,syd", err: `"" is not a region name`},
		{in: "LHR", err: `"LHR" is not a region name`},
		{in: "lhr,syd,lhr", err: `"lhr" is named twice`},
		{in: "a/b", err: `"a/b" is not a region name`},
	} {
		got, err := parseRegions(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%q: %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}
