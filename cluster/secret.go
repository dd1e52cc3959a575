package cluster

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"parley/configs"
)

// minSecret is the shortest shared secret accepted from Redis, in bytes:
// what auth.token_secret asks of a configured one.
const minSecret = 32

// maxSecret bounds a shared secret read from Redis.
const maxSecret = 4 << 10

// SharedSecret returns the secret named name that every node of the
// cluster on c's Redis shares, under the key secret:<name>: the first
// node that asks makes it at random (SET NX, no expiry), every node after
// reads the same. A node started alone makes its own secrets and keeps
// them in its data folder; nodes of one cluster must agree instead (a
// join token made by one node is checked by the node the room lives on).
// A value in Redis shorter than minSecret or longer than maxSecret is an
// error: it is not a secret this package made.
func SharedSecret(ctx context.Context, c configs.Cluster, name string) (string, error) {
	opts, err := clientOptions(c)
	if err != nil {
		return "", err
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(ctx, max(c.Lease.D(), 5*time.Second))
	defer cancel()
	b := make([]byte, 48)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	key := c.KeyPrefix + "secret:" + name
	if err := rdb.SetNX(ctx, key, base64.RawURLEncoding.EncodeToString(b), 0).Err(); err != nil {
		return "", fmt.Errorf("cluster: the shared %s in redis: %w", name, err)
	}
	v, err := rdb.Get(ctx, key).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return "", fmt.Errorf("cluster: the shared %s in redis was removed while it was read; start again", name)
	case err != nil:
		return "", fmt.Errorf("cluster: the shared %s in redis: %w", name, err)
	case len(v) < minSecret || len(v) > maxSecret:
		return "", fmt.Errorf("cluster: the shared %s in redis (key %s) is %d bytes, not a secret of %d to %d: remove the key, or set it to one", name, key, len(v), minSecret, maxSecret)
	}
	return v, nil
}
