package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Defaults of Config's optional fields.
const (
	DefaultRegion   = "us-east-1"
	DefaultTimeout  = 10 * time.Second
	DefaultMinRate  = 1 << 20  // bytes per second: 1 MiB/s
	DefaultPartSize = 16 << 20 // bytes
	// MinPartSize is the smallest part S3 accepts for every part but the last.
	MinPartSize = 5 << 20
	// MaxObjectSize is the largest object S3 can hold (5 TiB); a listing
	// entry above it is a lie.
	MaxObjectSize = 5 << 40
	// MaxListLimit bounds one List call.
	MaxListLimit = 100_000
	// maxSkipped bounds the odd entries one List looks at and reports:
	// past it the listing ends with an error.
	maxSkipped = 1000
	// maxPresignTTL is the longest a presigned URL may live (S3's own
	// bound for signature version 4).
	maxPresignTTL = 7 * 24 * time.Hour
)

// Config is a bucket and how to reach it. Endpoint, Bucket, AccessKey and
// SecretKey are required; the rest have defaults.
type Config struct {
	// Endpoint is the store's base URL: "https://s3.example.org" or
	// "http://127.0.0.1:9000" (scheme://host[:port], no path).
	Endpoint string
	// Bucket is the bucket's name (3-63 lowercase letters, digits, '-'
	// and '.').
	Bucket string
	// Region is the bucket's region; "" means DefaultRegion. Given, it
	// spares a request asking the store for it.
	Region string
	// AccessKey and SecretKey sign the requests (signature version 4).
	AccessKey, SecretKey string
	// PathStyle addresses the bucket as endpoint/bucket/key instead of
	// bucket.endpoint/key (virtual-hosted). Self-hosted stores and
	// endpoints given by IP address need it.
	PathStyle bool
	// Prefix, if not "", begins every object's name, followed by '/':
	// keys are relative to it. It follows the rules of keys.
	Prefix string
	// Timeout bounds every request but the transfer of an object's data;
	// 0 means DefaultTimeout.
	Timeout time.Duration
	// MinRate is the slowest upload rate, in bytes per second, that is not
	// a failure: Put is given Timeout plus size/MinRate. 0 means
	// DefaultMinRate.
	MinRate int64
	// PartSize is the part size of multipart uploads, at least
	// MinPartSize; an object larger than one part is sent in parts. 0
	// means DefaultPartSize.
	PartSize uint64
	// Transport, if not nil, carries the requests (a custom CA, a test's
	// fault injection); by default a transport with Timeout on dialling,
	// TLS handshakes and response headers.
	Transport http.RoundTripper
}

// Client is a client of one bucket. Make one with New.
type Client struct {
	cfg       Config
	core      *minio.Core
	transport http.RoundTripper
	prefix    string // cfg.Prefix + "/", or ""
}

// New checks cfg and returns a client of its bucket. It makes no request.
func New(cfg Config) (*Client, error) {
	if err := CheckEndpoint(cfg.Endpoint); err != nil {
		return nil, fmt.Errorf("objstore: endpoint: %w", err)
	}
	if err := CheckBucket(cfg.Bucket); err != nil {
		return nil, fmt.Errorf("objstore: bucket: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if !ValidRegion(cfg.Region) {
		return nil, fmt.Errorf("objstore: region %q: want letters, digits and '-', like \"eu-west-1\"", cfg.Region)
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, errors.New("objstore: the access key and the secret key are required")
	}
	if cfg.Prefix != "" && !ValidKey(cfg.Prefix) {
		return nil, fmt.Errorf("objstore: prefix %q: %s", cfg.Prefix, keyRule)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("objstore: timeout %s is negative", cfg.Timeout)
	}
	if cfg.MinRate == 0 {
		cfg.MinRate = DefaultMinRate
	}
	if cfg.MinRate < 0 {
		return nil, fmt.Errorf("objstore: min rate %d is negative", cfg.MinRate)
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < MinPartSize {
		return nil, fmt.Errorf("objstore: part size %d is below S3's least, %d", cfg.PartSize, MinPartSize)
	}
	u, _ := url.Parse(cfg.Endpoint) // checked above
	tr := cfg.Transport
	if tr == nil {
		tr = newTransport(cfg.Timeout)
	}
	lookup := minio.BucketLookupDNS
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	core, err := minio.NewCore(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:       u.Scheme == "https",
		Transport:    tr,
		Region:       cfg.Region,
		BucketLookup: lookup,
		// A request is retried at most once more: the caller's timeout,
		// not a long series of backoffs, says when the store is down.
		MaxRetries: 2,
	})
	if err != nil {
		return nil, fmt.Errorf("objstore: %w", err)
	}
	c := &Client{cfg: cfg, core: core, transport: tr}
	if cfg.Prefix != "" {
		c.prefix = cfg.Prefix + "/"
	}
	return c, nil
}

func newTransport(timeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   16,
		// Objects are media, already compressed; a gzip body would break
		// the sizes and ranges.
		DisableCompression: true,
	}
}

// Close closes the idle connections of the client's own transport (not
// of a Config.Transport given): a client that is no longer used keeps no
// goroutine. The client may still be used after, and dials again.
func (c *Client) Close() {
	if c.cfg.Transport == nil {
		if tr, ok := c.transport.(*http.Transport); ok {
			tr.CloseIdleConnections()
		}
	}
}

// Bucket returns the bucket's name.
func (c *Client) Bucket() string { return c.cfg.Bucket }

// Info describes an object.
type Info struct {
	Key         string // relative to the prefix
	Size        int64
	ModTime     time.Time
	ETag        string
	ContentType string // "" in listings
}

// name returns the object's full name for key, or an error if key is not
// valid.
func (c *Client) name(op, key string) (string, error) {
	if !ValidKey(key) {
		return "", &Error{Op: op, Key: key, Err: fmt.Errorf("%w: %s", ErrBadKey, keyRule)}
	}
	if len(c.prefix)+len(key) > MaxKeyLen {
		return "", &Error{Op: op, Key: key, Err: fmt.Errorf("%w: longer than %d bytes with the prefix", ErrBadKey, MaxKeyLen)}
	}
	return c.prefix + key, nil
}

// Check asks whether the bucket exists and the credentials may use it.
func (c *Client) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	ok, err := c.core.BucketExists(ctx, c.cfg.Bucket)
	if err != nil {
		return c.fail(ctx, "check bucket", "", err)
	}
	if !ok {
		return &Error{Op: "check bucket", Err: fmt.Errorf("%w: bucket %q does not exist at %s", ErrNotExist, c.cfg.Bucket, c.cfg.Endpoint)}
	}
	return nil
}

// Put stores size bytes read from r as key, replacing any object of that
// name. An object larger than Config.PartSize is sent in parts (some in
// parallel when r is an io.ReaderAt, as an *os.File is); if the upload
// fails its parts are discarded and nothing new is listed. r must give
// exactly size bytes.
func (c *Client) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) (Info, error) {
	name, err := c.name("put", key)
	if err != nil {
		return Info{}, err
	}
	if size < 0 || size > MaxObjectSize {
		return Info{}, &Error{Op: "put", Key: key, Err: fmt.Errorf("size %d out of range 0-%d", size, int64(MaxObjectSize))}
	}
	timeout := c.cfg.Timeout + time.Duration(float64(size)/float64(c.cfg.MinRate)*float64(time.Second))
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	up, err := c.core.Client.PutObject(ctx, c.cfg.Bucket, name, r, size, minio.PutObjectOptions{
		ContentType: contentType,
		PartSize:    c.cfg.PartSize,
		NumThreads:  2,
	})
	if err != nil {
		return Info{}, c.fail(ctx, "put", key, err)
	}
	if up.Size != size {
		return Info{}, &Error{Op: "put", Key: key, Err: fmt.Errorf("the store says it stored %d bytes of %d", up.Size, size)}
	}
	return Info{Key: key, Size: up.Size, ModTime: up.LastModified, ETag: up.ETag, ContentType: contentType}, nil
}

// PutFile stores the whole of f as key (see Put).
func (c *Client) PutFile(ctx context.Context, key string, f *os.File, contentType string) (Info, error) {
	st, err := f.Stat()
	if err != nil {
		return Info{}, &Error{Op: "put", Key: key, Err: err}
	}
	if !st.Mode().IsRegular() {
		return Info{}, &Error{Op: "put", Key: key, Err: fmt.Errorf("%s is not a regular file", f.Name())}
	}
	return c.Put(ctx, key, io.NewSectionReader(f, 0, st.Size()), st.Size(), contentType)
}

// Stat describes the object key; ErrNotExist if there is none.
func (c *Client) Stat(ctx context.Context, key string) (Info, error) {
	name, err := c.name("stat", key)
	if err != nil {
		return Info{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	oi, err := c.core.StatObject(ctx, c.cfg.Bucket, name, minio.StatObjectOptions{})
	if err != nil {
		return Info{}, c.fail(ctx, "stat", key, err)
	}
	if oi.Size < 0 || oi.Size > MaxObjectSize {
		return Info{}, &Error{Op: "stat", Key: key, Err: fmt.Errorf("the store gave an impossible size, %d", oi.Size)}
	}
	return Info{Key: key, Size: oi.Size, ModTime: oi.LastModified, ETag: oi.ETag, ContentType: oi.ContentType}, nil
}

// Delete removes the object key. Removing a key that does not exist is
// not an error (S3 answers both alike).
func (c *Client) Delete(ctx context.Context, key string) error {
	name, err := c.name("delete", key)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	if err := c.core.RemoveObject(ctx, c.cfg.Bucket, name, minio.RemoveObjectOptions{}); err != nil {
		return c.fail(ctx, "delete", key, err)
	}
	return nil
}

// PresignGet returns a URL that lets anyone who has it GET the object key
// (with Range) for ttl, 1s to 7 days, without credentials. It is signed
// here: no request is made, and the object need not exist.
func (c *Client) PresignGet(ctx context.Context, key string, ttl time.Duration) (*url.URL, error) {
	name, err := c.name("presign", key)
	if err != nil {
		return nil, err
	}
	if ttl < time.Second || ttl > maxPresignTTL {
		return nil, &Error{Op: "presign", Key: key, Err: fmt.Errorf("lifetime %s out of range 1s-168h", ttl)}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	u, err := c.core.PresignedGetObject(ctx, c.cfg.Bucket, name, ttl, nil)
	if err != nil {
		return nil, c.fail(ctx, "presign", key, err)
	}
	return u, nil
}

// Listing is the result of List.
type Listing struct {
	Objects []Info // in key order
	// Truncated says that there were more objects than the limit.
	Truncated bool
	// Skipped describes the entries of the store's answer that were left
	// out as impossible (a key outside the prefix or not valid, a
	// repeated key, a negative or too large size).
	Skipped []string
}

// List returns the objects whose key begins with prefix ("" for all), at
// most limit (1 to MaxListLimit) of them. prefix is a key, or the
// beginning of one (it may end with '/').
func (c *Client) List(ctx context.Context, prefix string, limit int) (Listing, error) {
	if prefix != "" && !ValidKey(strings.TrimSuffix(prefix, "/")) {
		return Listing{}, &Error{Op: "list", Key: prefix, Err: fmt.Errorf("%w: %s", ErrBadKey, keyRule)}
	}
	if limit < 1 || limit > MaxListLimit {
		return Listing{}, &Error{Op: "list", Key: prefix, Err: fmt.Errorf("limit %d out of range 1-%d", limit, MaxListLimit)}
	}
	full := c.prefix + prefix
	// One page of up to 1000 keys per Timeout.
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout*time.Duration(1+limit/1000))
	defer cancel()
	var l Listing
	seen := make(map[string]bool)
	for oi := range c.core.Client.ListObjectsIter(ctx, c.cfg.Bucket, minio.ListObjectsOptions{Prefix: full, Recursive: true}) {
		if oi.Err != nil {
			return Listing{}, c.fail(ctx, "list", prefix, oi.Err)
		}
		key, ok := strings.CutPrefix(oi.Key, c.prefix)
		switch {
		case !ok || !strings.HasPrefix(oi.Key, full):
			l.Skipped = append(l.Skipped, fmt.Sprintf("%q: outside the prefix %q", oi.Key, full))
		case !ValidKey(key) || len(oi.Key) > MaxKeyLen:
			l.Skipped = append(l.Skipped, fmt.Sprintf("%q: not a valid key", oi.Key))
		case seen[key]:
			l.Skipped = append(l.Skipped, fmt.Sprintf("%q: listed twice", oi.Key))
		case oi.Size < 0 || oi.Size > MaxObjectSize:
			l.Skipped = append(l.Skipped, fmt.Sprintf("%q: impossible size %d", oi.Key, oi.Size))
		default:
			if len(l.Objects) == limit {
				l.Truncated = true
				return l, nil
			}
			seen[key] = true
			l.Objects = append(l.Objects, Info{Key: key, Size: oi.Size, ModTime: oi.LastModified, ETag: oi.ETag})
			continue
		}
		if len(l.Skipped) >= maxSkipped {
			return l, &Error{Op: "list", Key: prefix, Err: fmt.Errorf("the store listed %d impossible entries; giving up", len(l.Skipped))}
		}
	}
	if err := ctx.Err(); err != nil {
		return Listing{}, c.fail(ctx, "list", prefix, err)
	}
	return l, nil
}
