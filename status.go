package tablecast

// The operator's JSON: what a node says of itself (/-/status.json) and of
// its cluster (/-/cluster.json). Fields are in the order of their JSON
// names, as the maps these bodies were first built from printed them.

// NodeStatus is the body of /-/status.json. Database names, TXIDs and
// positions are filled only for a request with an admin token: a database
// with no public table is nobody else's business.
type NodeStatus struct {
	LagMS       int64  `json:"lag_ms"`
	LastContact string `json:"last_contact,omitempty"` // raft only
	Node        string `json:"node"`
	NotReady    string `json:"not_ready"` // why the node gets no traffic, "" when it does
	OK          bool   `json:"ok"`
	// Positions are each database's TXID/checksum, with a token only.
	Positions  map[string]string `json:"positions,omitzero"`
	Primary    string            `json:"primary"`
	PrimaryURL string            `json:"primary_url"`
	RaftState  string            `json:"raft_state,omitempty"` // raft only
	RaftTerm   string            `json:"raft_term,omitempty"`  // raft only
	Ready      bool              `json:"ready"`
	Region     string            `json:"region"`
	Role       string            `json:"role"` // primary or replica
	TXIDs      map[string]string `json:"txids"`
}

// ClusterStatus is the body of /-/cluster.json.
type ClusterStatus struct {
	Leader string        `json:"leader"` // raft only ("" with a static lease)
	Lease  string        `json:"lease"`  // raft or static
	Nodes  []ClusterNode `json:"nodes"`
	OK     bool          `json:"ok"`
	// Synced are the positions recorded in raft as confirmed by a second
	// candidate, by database (raft only).
	Synced map[string]string `json:"synced,omitzero"`
}

// ClusterNode is one node of /-/cluster.json: what the cluster's registry
// knows of it and, when it answered, what it says of itself.
type ClusterNode struct {
	APIURL    string `json:"api_url"`
	Error     string `json:"error,omitempty"` // why it could not be asked
	Kind      string `json:"kind"`            // candidate or replica
	LiteFSURL string `json:"litefs_url"`
	Name      string `json:"name"`
	NodeURL   string `json:"node_url"`
	Raft      string `json:"raft"` // voter, nonvoter, removed; static with a static lease
	Reachable bool   `json:"reachable"`
	Region    string `json:"region"`
	// Reported is what the node answered; nil when it did not.
	*Reported
}

// ReportedRole is the role the node reported (primary or replica), or ""
// when it did not answer.
func (n ClusterNode) ReportedRole() string {
	if n.Reported == nil {
		return ""
	}
	return n.Role
}

// ReadyVoter reports whether the node is a raft voter that answered ready.
func (n ClusterNode) ReadyVoter() bool {
	return n.Raft == "voter" && n.Reported != nil && n.Ready
}

// Reported is what a node of /-/cluster.json said of itself: the parts of
// its NodeStatus the cluster view shows.
type Reported struct {
	LagMS       int64             `json:"lag_ms"`
	LastContact string            `json:"last_contact"`
	NotReady    string            `json:"not_ready"`
	RaftState   string            `json:"raft_state"`
	RaftTerm    string            `json:"raft_term"`
	Ready       bool              `json:"ready"`
	Role        string            `json:"role"`
	TXIDs       map[string]string `json:"txids"`
}

// Report is the part of s that /-/cluster.json shows.
func (s *NodeStatus) Report() *Reported {
	return &Reported{LagMS: s.LagMS, LastContact: s.LastContact, NotReady: s.NotReady, RaftState: s.RaftState,
		RaftTerm: s.RaftTerm, Ready: s.Ready, Role: s.Role, TXIDs: s.TXIDs}
}
