package main

import (
	"strings"
	"testing"

	"github.com/tablecast/tablecast"
)

// `cluster status` prints a row per node: what it reported, or that it
// did not answer.
func TestPrintClusterStatus(t *testing.T) {
	st := tablecast.ClusterStatus{OK: true, Lease: "raft", Leader: "lhr-1", Nodes: []tablecast.ClusterNode{
		{Name: "lhr-1", Region: "lhr", Kind: "candidate", Raft: "voter", APIURL: "http://lhr", Reachable: true,
			Reported: &tablecast.Reported{Role: "primary", Ready: true, RaftState: "Leader", LastContact: "0", TXIDs: map[string]string{"shop": "000000000000000a", "app": "0000000000000003"}}},
		{Name: "syd-1", Region: "syd", Kind: "replica", Raft: "nonvoter", APIURL: "http://syd", Error: "refused"},
	}}
	out, err := captureStdout(t, func() error { printClusterStatus(st); return nil })
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"lease: raft   raft leader: lhr-1", "app:3 shop:a", "unreachable"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "<nil>") {
		t.Errorf("output shows <nil>:\n%s", out)
	}
	t.Log("\n" + out)
}
