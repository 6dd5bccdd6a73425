package routing

import (
	"time"
)

// Metrics receives what routing decides, for counting (Prometheus in
// cmd/tablecast). Router.Metrics nil counts nothing. Methods are called on
// the request's goroutine and must be quick and safe for concurrent use.
type Metrics interface {
	// WriteForwarded: a write reached a node that is not the primary and
	// was sent on, by write mode (WriteProxy, WriteRedirect, WriteFlyReplay).
	WriteForwarded(mode string)
	// ProxyError: a request this node proxied to the primary failed
	// (ProxyUnreachable, ProxyLost, ProxyTooLarge).
	ProxyError(reason string)
	// BookmarkWait: a read whose bookmark this node had not applied yet
	// waited for it; how long, and how the read ended (OutcomeServed,
	// OutcomePrimary, OutcomeRefused).
	BookmarkWait(waited time.Duration, outcome string)
	// StaleRead: a read this node could not serve fresh enough, by cause
	// (CauseBookmark, CauseLag, CauseRevocation) and outcome (OutcomePrimary, OutcomeRefused).
	StaleRead(cause, outcome string)
}

// How a read that could not be served at once ended.
const (
	OutcomeServed  = "served"  // served here (after waiting)
	OutcomePrimary = "primary" // sent to the primary
	OutcomeRefused = "refused" // 504: not served fresh enough anywhere
)

// Why a read was not fresh enough here.
const (
	CauseBookmark = "bookmark" // the bookmarked TXID did not arrive in time
	CauseLag      = "lag"      // the replica lagged more than _max_lag / max-lag
	// CauseRevocation: the replica had not heard from the primary for
	// longer than revocation-bound (refused with 503, never forwarded).
	CauseRevocation = "revocation"
)

// Why a proxied request failed.
const (
	ProxyUnreachable = "unreachable" // no connection: nothing was written
	ProxyLost        = "lost"        // lost midway: the write may have been applied
	ProxyTooLarge    = "too_large"   // the body was over max-body
)

type nopMetrics struct{}

func (nopMetrics) WriteForwarded(string)              {}
func (nopMetrics) ProxyError(string)                  {}
func (nopMetrics) BookmarkWait(time.Duration, string) {}
func (nopMetrics) StaleRead(string, string)           {}

func (rt *Router) metrics() Metrics {
	if rt.Metrics == nil {
		return nopMetrics{}
	}
	return rt.Metrics
}
