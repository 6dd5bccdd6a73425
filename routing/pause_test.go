package routing

import (
	"strings"
	"testing"
	"time"
)

type pausedNode string

func (p pausedNode) StreamPaused() string { return string(p) }

// TestWithPause: a revocation refusal says why the node stopped taking
// the stream; no refusal stays none, and a node that did not stop (or
// cannot tell) keeps the plain reason.
func TestWithPause(t *testing.T) {
	r := RevocationReason(5*time.Second, 3*time.Second)
	if got := WithPause(pausedNode("disk full: 1 MiB free"), r); !strings.HasPrefix(got, r) || !strings.HasSuffix(got, "; disk full: 1 MiB free") {
		t.Fatalf("paused: %q", got)
	}
	if got := WithPause(pausedNode(""), r); got != r {
		t.Fatalf("not paused: %q", got)
	}
	if got := WithPause(struct{}{}, r); got != r {
		t.Fatalf("not a Paused: %q", got)
	}
	if got := WithPause(pausedNode("disk full"), ""); got != "" {
		t.Fatalf("within the bound: %q", got)
	}
}
