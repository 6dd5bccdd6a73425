package primary

import "github.com/tablecast/tablecast"

// AppliedState is AppliedNode.State of a node that has applied a change.
const AppliedState = appliedYes

// AppliedOn is the rule of the admin page's "Applied?" and of the import's
// answer, for the command line (tablecast import -wait): each node with
// its state for txid of db; done when every node, reachable or not, has
// applied it.
func AppliedOn(nodes []NodeState, db string, txid tablecast.TXID) ([]AppliedNode, bool) {
	return appliedOn(nodes, db, txid)
}

// NodeStatesOf is each node of a /-/cluster.json body with the TXID it
// has applied of each database (none when it did not answer).
func NodeStatesOf(st tablecast.ClusterStatus) []NodeState {
	out := make([]NodeState, 0, len(st.Nodes))
	for _, r := range st.Nodes {
		s := NodeState{Name: r.Name, Region: r.Region, Reachable: r.Reachable, Error: r.Error, TXIDs: map[string]tablecast.TXID{}}
		if r.Reported != nil {
			s.Role = r.Role
			for db, t := range r.TXIDs {
				s.TXIDs[db], _ = tablecast.ParseTXID(t)
			}
		}
		out = append(out, s)
	}
	return out
}
