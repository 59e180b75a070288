package bridge

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
)

// listCache answers list requests the server marked cacheable (2026-07-28, SEP-2549: a
// result's ttlMs and cacheScope) without asking the server again, until the entry expires
// or a list-changed notification drops it.
//
//   - Only tools/list, prompts/list, resources/list and resources/templates/list are
//     cached, and only a complete result whose ttlMs is above zero (zero means "stale at
//     once"; a result without ttlMs, from any server before 2026-07-28, is never cached).
//   - The key is the method and the page's cursor: every page is an entry of its own.
//     A request with params besides cursor and _meta is not cached.
//   - An entry expires ttlMs after its request was sent (not answered: the conservative
//     end of the window).
//   - notifications/tools/list_changed drops tools/list; prompts/list_changed drops
//     prompts/list; resources/list_changed drops resources/list and
//     resources/templates/list. A list answered after such a notification was sent for is
//     not stored (the answer may predate the change).
//   - cacheScope: "public" and "private" are both kept, because the cache is one
//     bridge's, that is one session generation's, in memory: one authorization context,
//     never shared across users, never persisted. A restart starts with an empty cache, as
//     does every (re)established subscriptions/listen stream (flush), since list changes
//     may have gone unheard while there was none. An unknown scope is not cached.
//   - What is stored is the result bytes the upstream returned, verbatim; the answer goes
//     out under the id of the request it answers.
type listCache struct {
	mu      sync.Mutex
	now     func() time.Time
	entries map[cacheKey]cacheEntry
	bytes   int
	// gen counts the invalidations of each method (and all, the flushes), so that a list
	// fetched across one is not stored.
	gen map[string]uint64
	all uint64
}

// Bounds of one bridge's cache: a list page beyond them is simply not stored.
const (
	cacheMaxEntries = 1024
	cacheMaxBytes   = 32 << 20
)

type cacheKey struct {
	method string
	cursor string
}

type cacheEntry struct {
	result  json.RawMessage
	expires time.Time
}

// cacheTicket is taken before a cacheable request goes upstream and stores its answer.
type cacheTicket struct {
	key  cacheKey
	sent time.Time
	gen  uint64
	all  uint64
}

func newListCache() *listCache {
	return &listCache{now: time.Now, entries: map[cacheKey]cacheEntry{}, gen: map[string]uint64{}}
}

// cachedLists are the methods whose results may be cached, and the list-changed
// notification that drops each.
var cachedLists = map[string]string{
	string(mcp.MethodToolsList):              mcp.MethodNotificationToolsListChanged,
	string(mcp.MethodPromptsList):            mcp.MethodNotificationPromptsListChanged,
	string(mcp.MethodResourcesList):          mcp.MethodNotificationResourcesListChanged,
	string(mcp.MethodResourcesTemplatesList): mcp.MethodNotificationResourcesListChanged,
}

// key returns the cache key of a request, and false when the request is not cacheable.
func (c *listCache) key(method string, params json.RawMessage) (cacheKey, bool) {
	if c == nil {
		return cacheKey{}, false
	}
	if _, ok := cachedLists[method]; !ok {
		return cacheKey{}, false
	}
	k := cacheKey{method: method}
	if len(params) == 0 || string(params) == "null" {
		return k, true
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(params, &fields); err != nil {
		return cacheKey{}, false
	}
	for name, v := range fields {
		switch name {
		case "_meta":
		case "cursor":
			if string(v) == "null" {
				continue
			}
			if err := json.Unmarshal(v, &k.cursor); err != nil {
				return cacheKey{}, false
			}
		default:
			return cacheKey{}, false
		}
	}
	return k, true
}

// get returns the fresh entry for k.
func (c *listCache) get(k cacheKey) (json.RawMessage, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok {
		return nil, false
	}
	if !c.now().Before(e.expires) {
		c.dropLocked(k)
		return nil, false
	}
	return e.result, true
}

// begin is called just before the request for k goes upstream.
func (c *listCache) begin(k cacheKey) cacheTicket {
	c.mu.Lock()
	defer c.mu.Unlock()
	return cacheTicket{key: k, sent: c.now(), gen: c.gen[k.method], all: c.all}
}

// put stores the answer to the request of t when the server marked it cacheable and no
// invalidation happened since the request was sent. It reports whether it stored it.
func (c *listCache) put(t cacheTicket, result json.RawMessage) bool {
	ttl, ok := cacheTTL(result)
	if !ok {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen[t.key.method] != t.gen || c.all != t.all {
		return false
	}
	expires := t.sent.Add(ttl)
	if !c.now().Before(expires) {
		return false
	}
	c.dropLocked(t.key)
	if len(c.entries) >= cacheMaxEntries || c.bytes+len(result) > cacheMaxBytes {
		c.pruneLocked()
		if len(c.entries) >= cacheMaxEntries || c.bytes+len(result) > cacheMaxBytes {
			return false
		}
	}
	c.entries[t.key] = cacheEntry{result: result, expires: expires}
	c.bytes += len(result)
	return true
}

// cacheTTL reads the caching hints of a list result: ok only for a complete result with a
// ttlMs above zero and a scope the bridge may keep (see listCache).
func cacheTTL(result json.RawMessage) (time.Duration, bool) {
	var r struct {
		ResultType mcp.ResultType `json:"resultType"`
		TTLMs      *int64         `json:"ttlMs"`
		CacheScope mcp.CacheScope `json:"cacheScope"`
	}
	if err := json.Unmarshal(result, &r); err != nil {
		return 0, false
	}
	if !r.ResultType.IsComplete() || r.TTLMs == nil || *r.TTLMs <= 0 {
		return 0, false
	}
	switch r.CacheScope {
	case "", mcp.CacheScopePrivate, mcp.CacheScopePublic:
	default:
		return 0, false
	}
	// A ttl beyond any bridge's life is as good as forever; keep the arithmetic sane.
	const maxTTL = int64(365 * 24 * time.Hour / time.Millisecond)
	return time.Duration(min(*r.TTLMs, maxTTL)) * time.Millisecond, true
}

// changed drops the lists a server notification says changed.
func (c *listCache) changed(notification string) {
	if c == nil {
		return
	}
	var methods []string
	for method, n := range cachedLists {
		if n == notification {
			methods = append(methods, method)
		}
	}
	if len(methods) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range methods {
		c.gen[m]++
		for k := range c.entries {
			if k.method == m {
				c.dropLocked(k)
			}
		}
	}
}

// flush empties the cache.
func (c *listCache) flush() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all++
	clear(c.entries)
	c.bytes = 0
}

// onListening sets fn to run whenever the server acknowledges a subscriptions/listen
// stream, the first one and every one opened again (2026-07-28 upstreams only).
func onListening(up Upstream, fn func()) {
	if u, ok := up.(*rawUpstream); ok {
		u.listening.Store(&fn)
	}
}

// listening empties the cache of the bridge's Server when a subscriptions/listen stream is
// (re)established: list changes sent while there was none went unheard.
func (b *Bridge) listening() {
	if srv := b.srv.Load(); srv != nil {
		srv.cache.flush()
	}
}

// setClock replaces the clock (tests).
func (c *listCache) setClock(now func() time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now
}

func (c *listCache) dropLocked(k cacheKey) {
	if e, ok := c.entries[k]; ok {
		c.bytes -= len(e.result)
		delete(c.entries, k)
	}
}

// pruneLocked drops the expired entries.
func (c *listCache) pruneLocked() {
	now := c.now()
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			c.dropLocked(k)
		}
	}
}
