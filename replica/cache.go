package replica

import (
	"container/list"
	"hash/maphash"
	"strconv"
	"sync"
	"sync/atomic"
)

// DefaultCacheBytes is the response cache's default budget.
const DefaultCacheBytes = 64 << 20

const cacheShards = 16

// Cache holds rendered responses under a byte budget, least recently used
// out first. Keys name the exact data a response was rendered from (see
// cacheKey), so an entry is never stale: it is only unused once its table
// changed, and then ages out.
type Cache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard

	hits, misses, evictions atomic.Int64
}

type cacheShard struct {
	mu     sync.Mutex
	budget int64
	bytes  int64
	lru    *list.List // front = most recent; values are *cacheEntry
	items  map[string]*list.Element
}

// cacheEntry is one rendered response.
type cacheEntry struct {
	key         string
	status      int
	contentType string
	link        string // Link header (next page), if any
	disposition string // Content-Disposition header (downloads), if any
	body        []byte

	// hdr holds the header values, built once by prepare: set before the
	// entry is shared, read-only after.
	hdr *entryHeaders
}

// entryHeaders are an entry's header values, each a slice with len == cap
// (so an Add on a response copies it instead of writing into it).
type entryHeaders struct {
	contentType, length, link, disposition, etag []string
}

// prepare builds the entry's header values from its fields and key.
func (e *cacheEntry) prepare() {
	h := &entryHeaders{contentType: []string{e.contentType}, length: []string{strconv.Itoa(len(e.body))}}
	if e.link != "" {
		h.link = []string{e.link}
	}
	if e.disposition != "" {
		h.disposition = []string{e.disposition}
	}
	if e.key != "" {
		h.etag = []string{etagOf(e.key)}
	}
	e.hdr = h
}

func (e *cacheEntry) size() int64 {
	return int64(len(e.key) + len(e.link) + len(e.disposition) + len(e.body) + 128)
}

// NewCache returns a cache holding at most budget bytes (0 disables it).
func NewCache(budget int64) *Cache {
	c := &Cache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i] = cacheShard{budget: budget / cacheShards, lru: list.New(), items: map[string]*list.Element{}}
	}
	return c
}

func (c *Cache) shard(key string) *cacheShard {
	return &c.shards[maphash.String(c.seed, key)%cacheShards]
}

// Get returns the entry under key.
func (c *Cache) Get(key string) (*cacheEntry, bool) {
	s := c.shard(key)
	s.mu.Lock()
	el, ok := s.items[key]
	if ok {
		s.lru.MoveToFront(el)
	}
	s.mu.Unlock()
	if !ok {
		c.misses.Add(1)
		return nil, false
	}
	c.hits.Add(1)
	return el.Value.(*cacheEntry), true
}

// Put stores e, evicting the least recently used entries over budget.
// Entries larger than a shard's budget are not kept.
func (c *Cache) Put(e *cacheEntry) {
	if e.hdr == nil || (e.key != "" && e.hdr.etag == nil) {
		e.prepare()
	}
	s := c.shard(e.key)
	n := e.size()
	if n > s.budget {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.items[e.key]; ok {
		s.bytes -= el.Value.(*cacheEntry).size()
		s.lru.Remove(el)
	}
	s.items[e.key] = s.lru.PushFront(e)
	s.bytes += n
	for s.bytes > s.budget {
		old := s.lru.Back()
		oe := old.Value.(*cacheEntry)
		s.lru.Remove(old)
		delete(s.items, oe.key)
		s.bytes -= oe.size()
		c.evictions.Add(1)
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
	st := CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Evictions: c.evictions.Load()}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		st.Entries += len(s.items)
		st.Bytes += s.bytes
		s.mu.Unlock()
	}
	return st
}
