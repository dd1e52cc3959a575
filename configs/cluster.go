package configs

import (
	"net/url"
	"strings"
	"time"
)

// Cluster makes this server one node of a cluster (package cluster): the
// nodes share a Redis, which says which node each room lives on. Off
// while RedisURL is "": then no Redis client is made at all.
type Cluster struct {
	// RedisURL is the Redis server, as redis://[user:password@]host:port/db,
	// rediss:// (TLS) or unix:///path. It never appears in JSON (it may
	// hold a password).
	RedisURL string `toml:"redis_url" json:"-"`
	// NodeID names this node in Redis; "" means a random one, new at each
	// start. 1-64 letters, digits, '-', '_' or '.'.
	NodeID string `toml:"node_id" json:"node_id"`
	// PublicURL is this node's base URL as clients reach it
	// (scheme://host[:port], no path): redirects to this node point there.
	// Required with RedisURL.
	PublicURL string `toml:"public_url" json:"public_url"`
	// KeyPrefix begins every Redis key of the cluster, so that clusters
	// can share one Redis; 1-64 characters without spaces.
	KeyPrefix string `toml:"key_prefix" json:"key_prefix"`
	// Heartbeat is how often the node renews its record and its rooms'
	// leases; 100ms..1m, at most a third of Lease.
	Heartbeat Duration `toml:"heartbeat" json:"heartbeat"`
	// Lease is how long a node's record and a room's lease live without
	// renewal: a node that stops renewing loses its rooms this long after
	// its last renewal. 1s..10m.
	Lease Duration `toml:"lease" json:"lease"`
	// ReleaseAfter is how long a room this node owns stays its own after
	// its last member left; 0..1h.
	ReleaseAfter Duration `toml:"release_after" json:"release_after"`
}

// Enabled reports whether the server is a node of a cluster.
func (c Cluster) Enabled() bool { return c.RedisURL != "" }

func defaultCluster() Cluster {
	return Cluster{
		KeyPrefix:    "parley:",
		Heartbeat:    Duration(2 * time.Second),
		Lease:        Duration(10 * time.Second),
		ReleaseAfter: Duration(30 * time.Second),
	}
}

// ValidNodeID reports whether id may name a node: 1-64 ASCII letters,
// digits, '-', '_' or '.'.
func ValidNodeID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// CheckPublicURL returns "" if v is a node's base URL (an absolute http(s)
// URL of a host, without user, path, query or fragment), else the problem.
func CheckPublicURL(v string) string {
	const want = `want this node's address as clients reach it, like "https://node1.example.org" (scheme://host[:port], no path)`
	u, err := url.Parse(v)
	switch {
	case v == "":
		return want + ", got \"\""
	case err != nil:
		return want + ", got " + quote(v)
	case u.Scheme != "http" && u.Scheme != "https":
		return want + ", got " + quote(v) + " (scheme must be http or https)"
	case u.Host == "" || u.User != nil || u.Opaque != "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery || u.Path != "":
		return want + ", got " + quote(v)
	case !validHost(u.Hostname()):
		return want + ", got " + quote(v) + " (bad host)"
	}
	return ""
}

// problems checks the [cluster] section.
func (c Cluster) problems(p *problems) {
	if c.RedisURL != "" {
		u, err := url.Parse(c.RedisURL)
		switch {
		case err != nil:
			p.add("cluster.redis_url", `want a Redis URL like "redis://127.0.0.1:6379/0", got a string that is not a URL`)
		case u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix":
			p.add("cluster.redis_url", "want a redis://, rediss:// or unix:// URL, got scheme %q", u.Scheme)
		case u.Scheme != "unix" && u.Host == "":
			p.add("cluster.redis_url", `want a Redis URL with a host, like "redis://127.0.0.1:6379/0"`)
		case u.Scheme == "unix" && u.Path == "":
			p.add("cluster.redis_url", `want a socket path, like "unix:///run/redis/redis.sock"`)
		}
		if msg := CheckPublicURL(c.PublicURL); msg != "" {
			p.add("cluster.public_url", "%s (required with redis_url)", msg)
		}
	} else if c.PublicURL != "" {
		if msg := CheckPublicURL(c.PublicURL); msg != "" {
			p.add("cluster.public_url", "%s", msg)
		}
	}
	if c.NodeID != "" && !ValidNodeID(c.NodeID) {
		p.add("cluster.node_id", "want 1-64 letters, digits, '-', '_' or '.' (or \"\" for a random one), got %q", c.NodeID)
	}
	if c.KeyPrefix == "" || len(c.KeyPrefix) > 64 || strings.ContainsAny(c.KeyPrefix, " \t\r\n") {
		p.add("cluster.key_prefix", "want 1-64 characters without spaces, like \"parley:\", got %q", c.KeyPrefix)
	}
	if c.Lease < Duration(time.Second) || c.Lease > Duration(10*time.Minute) {
		p.add("cluster.lease", "must be between 1s and 10m, got %s", c.Lease)
	}
	switch {
	case c.Heartbeat < Duration(100*time.Millisecond) || c.Heartbeat > Duration(time.Minute):
		p.add("cluster.heartbeat", "must be between 100ms and 1m, got %s", c.Heartbeat)
	case c.Heartbeat*3 > c.Lease:
		p.add("cluster.heartbeat", "must be at most a third of lease (%s), so that a late renewal does not lose a room, got %s", c.Lease, c.Heartbeat)
	}
	if c.ReleaseAfter < 0 || c.ReleaseAfter > Duration(time.Hour) {
		p.add("cluster.release_after", "must be between 0s and 1h, got %s", c.ReleaseAfter)
	}
}
