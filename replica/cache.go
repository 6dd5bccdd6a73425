package replica

import (
	"bytes"
	"hash/maphash"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCacheBytes is the response cache's default budget.
const DefaultCacheBytes = 64 << 20

const cacheShards = 16

// Cache holds rendered responses under a byte budget. Keys name the exact
// data a response was rendered from (see cacheKey), so an entry is never
// stale: it is only unused once its table changed, and then ages out.
//
// Eviction is CLOCK (second chance), an approximation of least recently
// used: a hit only marks its entry, so the hot path takes a shard's lock
// for one map lookup and touches no list or neighbouring entries.
type Cache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
}

type cacheShard struct {
	mu     sync.Mutex
	budget int64
	bytes  int64
	items  map[string]*cacheEntry
	ring   []*cacheEntry // the clock's slots; nil is free
	free   []int         // free slots of ring
	hand   int           // the next slot the clock looks at

	// Counted under mu, per shard: one counter shared by every core
	// would bounce between them on every read.
	hits, misses, evictions int64
}

// cacheEntry is one rendered response.
type cacheEntry struct {
	key         string
	status      int
	contentType string
	link        string // Link header (next page), if any
	disposition string // Content-Disposition header (downloads), if any
	etag        string // ETag header (successful answers), if any
	body        []byte
	// retryAt, when not 0, is when the entry stops being served (unix
	// nanoseconds): an answer whose facet ran out of time is served for a
	// while (facets.go), then read again.
	retryAt int64

	// hdr holds the header values, built once by prepare: set before the
	// entry is shared, read-only after.
	hdr *entryHeaders

	slot int         // the entry's slot in its shard's ring
	used atomic.Bool // read since the clock last passed
}

// fresh reports whether the entry may be served: always, but for an
// answer with a facet that timed out, whose time is up.
func (e *cacheEntry) fresh() bool {
	return e.retryAt == 0 || time.Now().UnixNano() < e.retryAt
}

// entryHeaders are an entry's header values, each a slice with len == cap
// (so an Add on a response copies it instead of writing into it), backed
// by the struct's own array: one allocation per entry, read together.
type entryHeaders struct {
	contentType, length, link, disposition, etag []string

	html bool // an HTML page: it gets the pages' security headers

	vals [5]string
}

// prepare builds the entry's header values from its fields.
func (e *cacheEntry) prepare() {
	h := &entryHeaders{}
	h.vals = [5]string{e.contentType, strconv.Itoa(len(e.body)), e.link, e.disposition}
	h.contentType, h.length = h.vals[0:1:1], h.vals[1:2:2]
	if e.link != "" {
		h.link = h.vals[2:3:3]
	}
	if e.disposition != "" {
		h.disposition = h.vals[3:4:4]
	}
	if e.etag != "" {
		h.vals[4] = e.etag
		h.etag = h.vals[4:5:5]
	}
	h.html = e.contentType == contentHTML
	e.hdr = h
}

// entryOverhead is what an entry costs beyond its strings and body: the
// cacheEntry and entryHeaders structs (each rounded up to Go's size
// class), its slot in the ring, its map entry, and the Content-Length
// string. TestCache_CountsWhatItHolds measures it against the heap.
const entryOverhead = 128 + 208 + 8 + 64 + 16

// size is what the entry takes from the heap, within a few percent: the
// body's capacity (not its length: a bytes.Buffer's slice can hold twice
// what was written), the key (shared by the map and the entry), the
// header strings, and the fixed overhead.
func (e *cacheEntry) size() int64 {
	n := cap(e.body) + len(e.key) + len(e.link) + len(e.disposition) + entryOverhead
	return int64(n + len(e.etag))
}

// clip trims the body's spare capacity, so that the cache holds (and
// counts) what the answer needs. A rendered body comes from a bytes.Buffer
// whose slice grows by doubling: on average a third of it is spare.
func (e *cacheEntry) clip() {
	if spare := cap(e.body) - len(e.body); spare > 64 && spare > len(e.body)/16 {
		e.body = bytes.Clone(e.body)
	}
}

// NewCache returns a cache holding at most budget bytes (0 disables it).
func NewCache(budget int64) *Cache {
	c := &Cache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i] = cacheShard{budget: budget / cacheShards, items: map[string]*cacheEntry{}}
	}
	return c
}

func (c *Cache) shard(key string) *cacheShard {
	return &c.shards[maphash.String(c.seed, key)%cacheShards]
}

// Get returns the entry under key.
func (c *Cache) Get(key string) (*cacheEntry, bool) {
	return c.get(&c.shards[maphash.String(c.seed, key)%cacheShards], key)
}

// GetBytes is Get with the key in bytes (looked up without a copy).
func (c *Cache) GetBytes(key []byte) (*cacheEntry, bool) {
	s := &c.shards[maphash.Bytes(c.seed, key)%cacheShards]
	s.mu.Lock()
	e, ok := s.items[string(key)]
	return c.counted(s, e, ok)
}

func (c *Cache) get(s *cacheShard, key string) (*cacheEntry, bool) {
	s.mu.Lock()
	e, ok := s.items[key]
	return c.counted(s, e, ok)
}

// counted counts a lookup in s, whose lock it releases, and marks a hit's
// entry used.
func (c *Cache) counted(s *cacheShard, e *cacheEntry, ok bool) (*cacheEntry, bool) {
	if ok {
		s.hits++
	} else {
		s.misses++
	}
	s.mu.Unlock()
	if !ok {
		return nil, false
	}
	if !e.used.Load() {
		e.used.Store(true)
	}
	return e, true
}

// Put stores e, evicting entries the clock finds unused until the shard is
// within budget. Entries larger than a shard's budget are not kept.
func (c *Cache) Put(e *cacheEntry) {
	if e.hdr == nil {
		e.prepare()
	}
	e.clip()
	s := c.shard(e.key)
	n := e.size()
	if n > s.budget {
		return
	}
	e.used.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.items[e.key]; ok {
		s.bytes -= old.size()
		e.slot = old.slot
	} else if k := len(s.free); k > 0 {
		e.slot, s.free = s.free[k-1], s.free[:k-1]
	} else {
		e.slot = len(s.ring)
		s.ring = append(s.ring, nil)
	}
	s.ring[e.slot] = e
	s.items[e.key] = e
	s.bytes += n
	for s.bytes > s.budget {
		s.evictOne(e)
		s.evictions++
	}
}

// evictOne turns the clock's hand until it finds an entry not used since
// its last turn, other than keep, and removes it. Every entry passed over
// loses its mark, so two turns at most find one.
func (s *cacheShard) evictOne(keep *cacheEntry) {
	for {
		if s.hand >= len(s.ring) {
			s.hand = 0
		}
		e := s.ring[s.hand]
		s.hand++
		if e == nil || e == keep {
			continue
		}
		if e.used.Load() {
			e.used.Store(false)
			continue
		}
		s.ring[e.slot] = nil
		s.free = append(s.free, e.slot)
		delete(s.items, e.key)
		s.bytes -= e.size()
		return
	}
}

// CacheStats are the cache's counters.
type CacheStats struct {
	Hits, Misses, Evictions int64
	Entries                 int
	Bytes                   int64
}

// Stats reads the counters.
func (c *Cache) Stats() CacheStats {
	var st CacheStats
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		st.Hits += s.hits
		st.Misses += s.misses
		st.Evictions += s.evictions
		st.Entries += len(s.items)
		st.Bytes += s.bytes
		s.mu.Unlock()
	}
	return st
}
