package tablecast

import (
	"encoding/json"
	"testing"
)

// The status bodies keep the fields they had as maps: positions only with
// a token (even when empty), raft's only with raft, and a cluster node's
// own report only when it answered.
func TestNodeStatus_JSON(t *testing.T) {
	base := NodeStatus{OK: true, Node: "syd-1", Region: "syd", Role: "replica", TXIDs: map[string]string{}}
	full := base
	full.Positions = map[string]string{}
	withRaft := full
	withRaft.RaftState, withRaft.RaftTerm, withRaft.LastContact = "Follower", "3", "12ms"
	for name, tt := range map[string]struct {
		v    any
		want string
	}{
		"Anonymous": {base, `{"lag_ms":0,"node":"syd-1","not_ready":"","ok":true,"primary":"","primary_url":"","ready":false,"region":"syd","role":"replica","txids":{}}`},
		"Full":      {full, `{"lag_ms":0,"node":"syd-1","not_ready":"","ok":true,"positions":{},"primary":"","primary_url":"","ready":false,"region":"syd","role":"replica","txids":{}}`},
		"Raft":      {withRaft, `{"lag_ms":0,"last_contact":"12ms","node":"syd-1","not_ready":"","ok":true,"positions":{},"primary":"","primary_url":"","raft_state":"Follower","raft_term":"3","ready":false,"region":"syd","role":"replica","txids":{}}`},
		"Unreachable": {ClusterNode{Name: "lhr-1", Region: "lhr", Kind: "candidate", Raft: "voter", Error: "refused"},
			`{"api_url":"","error":"refused","kind":"candidate","litefs_url":"","name":"lhr-1","node_url":"","raft":"voter","reachable":false,"region":"lhr"}`},
		"Reachable": {ClusterNode{Name: "lhr-1", Region: "lhr", Kind: "candidate", Raft: "voter", Reachable: true, Reported: withRaft.Report()},
			`{"api_url":"","kind":"candidate","litefs_url":"","name":"lhr-1","node_url":"","raft":"voter","reachable":true,"region":"lhr","lag_ms":0,"last_contact":"12ms","not_ready":"","raft_state":"Follower","raft_term":"3","ready":false,"role":"replica","txids":{}}`},
		"Cluster": {ClusterStatus{OK: true, Lease: "raft", Nodes: []ClusterNode{}, Synced: map[string]string{}},
			`{"leader":"","lease":"raft","nodes":[],"ok":true,"synced":{}}`},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(b); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestClusterNode_Reported: a node that did not answer has no role and is
// no ready voter; one that did reads its own answer.
func TestClusterNode_Reported(t *testing.T) {
	var st ClusterStatus
	body := `{"nodes":[{"name":"a","raft":"voter","reachable":false,"error":"timeout"},
		{"name":"b","raft":"voter","reachable":true,"ready":true,"role":"primary"},
		{"name":"c","raft":"nonvoter","reachable":true,"ready":true,"role":"replica"}]}`
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		role  string
		voter bool
	}{{"", false}, {"primary", true}, {"replica", false}} {
		n := st.Nodes[i]
		if n.ReportedRole() != want.role || n.ReadyVoter() != want.voter {
			t.Errorf("%s: role %q, ready voter %v; want %q, %v", n.Name, n.ReportedRole(), n.ReadyVoter(), want.role, want.voter)
		}
	}
}
