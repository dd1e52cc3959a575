package configs

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"parley/internal/secretfile"
	"parley/objstore"
)

// The environment variables that hold the S3 credentials; they take
// precedence over storage.s3_credentials_file.
const (
	EnvS3AccessKey = "PARLEY_S3_ACCESS_KEY"
	EnvS3SecretKey = "PARLEY_S3_SECRET_KEY"
)

// S3Enabled reports whether clip media is to live in an S3 bucket.
func (s Storage) S3Enabled() bool { return s.S3Endpoint != "" }

// s3Problems checks the storage.s3_* keys; cluster says whether the
// server is a node of a cluster.
func (s Storage) s3Problems(p *problems, cluster bool) {
	if !s.S3Enabled() {
		for _, k := range []struct{ key, v string }{
			{"storage.s3_bucket", s.S3Bucket},
			{"storage.s3_prefix", s.S3Prefix},
			{"storage.s3_credentials_file", s.S3CredentialsFile},
		} {
			if k.v != "" {
				p.add(k.key, "is set, but storage.s3_endpoint is not: set the endpoint too, or remove this key (clips stay on local disk)")
			}
		}
		return
	}
	if err := objstore.CheckEndpoint(s.S3Endpoint); err != nil {
		p.add("storage.s3_endpoint", "%s", err)
	}
	if !cluster {
		p.add("storage.s3_endpoint", "clip media in an S3 bucket needs [cluster] for now: set cluster.redis_url, or remove storage.s3_endpoint (a single node keeps its clips on local disk)")
	}
	if s.S3Bucket == "" {
		p.add("storage.s3_bucket", `is required with s3_endpoint: the bucket's name, like "parley-clips"`)
	} else if err := objstore.CheckBucket(s.S3Bucket); err != nil {
		p.add("storage.s3_bucket", "%s", err)
	}
	if !objstore.ValidRegion(s.S3Region) {
		p.add("storage.s3_region", `want 1-64 letters, digits and '-', like "us-east-1", got %q`, s.S3Region)
	}
	if s.S3Prefix != "" && (!objstore.ValidKey(s.S3Prefix) || len(s.S3Prefix) > 128) {
		p.add("storage.s3_prefix", `want "" or '/'-separated names of letters, digits, '-', '_' and '.' (none empty, none beginning with '.', no '/' at either end), at most 128 bytes, like "parley/clips", got %q`, s.S3Prefix)
	}
}

// S3Credentials is the access key and secret key of the S3 bucket.
type S3Credentials struct {
	AccessKey, SecretKey string
}

// maxCredentialsFile bounds the credentials file.
const maxCredentialsFile = 4096

// S3Credentials returns the bucket's credentials: from the environment
// (PARLEY_S3_ACCESS_KEY and PARLEY_S3_SECRET_KEY, both), else from
// storage.s3_credentials_file. The file holds either two lines, the access
// key then the secret key, or the lines access_key = ... and
// secret_key = ...; blank lines and lines beginning with '#' are ignored.
// A file others may read is set to mode 0600, as the other secret files
// are (package secretfile). getenv is os.Getenv outside tests.
func (s Storage) S3Credentials(getenv func(string) string, log *slog.Logger) (S3Credentials, error) {
	access, secret := getenv(EnvS3AccessKey), getenv(EnvS3SecretKey)
	switch {
	case access != "" && secret != "":
		c := S3Credentials{AccessKey: access, SecretKey: secret}
		if err := c.check(); err != nil {
			return S3Credentials{}, fmt.Errorf("S3 credentials from %s and %s: %w", EnvS3AccessKey, EnvS3SecretKey, err)
		}
		return c, nil
	case access != "":
		return S3Credentials{}, fmt.Errorf("S3 credentials: %s is set but %s is not: set both, or neither (to use storage.s3_credentials_file)", EnvS3AccessKey, EnvS3SecretKey)
	case secret != "":
		return S3Credentials{}, fmt.Errorf("S3 credentials: %s is set but %s is not: set both, or neither (to use storage.s3_credentials_file)", EnvS3SecretKey, EnvS3AccessKey)
	case s.S3CredentialsFile == "":
		return S3Credentials{}, fmt.Errorf("S3 credentials: none: set %s and %s, or storage.s3_credentials_file", EnvS3AccessKey, EnvS3SecretKey)
	}
	data, err := secretfile.Read(s.S3CredentialsFile, "S3 credentials", maxCredentialsFile, log)
	if err != nil {
		return S3Credentials{}, err
	}
	c, err := parseS3Credentials(string(data))
	if err != nil {
		return S3Credentials{}, fmt.Errorf("S3 credentials file %s: %w", s.S3CredentialsFile, err)
	}
	return c, nil
}

func parseS3Credentials(data string) (S3Credentials, error) {
	var lines []string
	for l := range strings.Lines(data) {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	var c S3Credentials
	if len(lines) > 0 && strings.Contains(lines[0], "=") {
		for i, l := range lines {
			k, v, ok := strings.Cut(l, "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			var dst *string
			switch {
			case !ok:
				return S3Credentials{}, fmt.Errorf("line %d of its settings: want key = value", i+1)
			case k == "access_key":
				dst = &c.AccessKey
			case k == "secret_key":
				dst = &c.SecretKey
			default:
				return S3Credentials{}, fmt.Errorf("unknown key %q: want access_key and secret_key", k)
			}
			if *dst != "" {
				return S3Credentials{}, fmt.Errorf("%s is given twice", k)
			}
			*dst = v
		}
		if c.AccessKey == "" || c.SecretKey == "" {
			return S3Credentials{}, errors.New("want both access_key and secret_key")
		}
	} else {
		if len(lines) != 2 {
			return S3Credentials{}, fmt.Errorf("want two lines, the access key then the secret key (or access_key = ... and secret_key = ...), got %d", len(lines))
		}
		c = S3Credentials{AccessKey: lines[0], SecretKey: lines[1]}
	}
	return c, c.check()
}

// check refuses keys no store gives: empty, over 256 bytes, or with
// spaces or control characters.
func (c S3Credentials) check() error {
	for _, k := range []struct{ name, v string }{{"access key", c.AccessKey}, {"secret key", c.SecretKey}} {
		if k.v == "" || len(k.v) > 256 {
			return fmt.Errorf("the %s must be 1-256 characters", k.name)
		}
		for _, r := range k.v {
			if r <= ' ' || r == 0x7f {
				return fmt.Errorf("the %s has a space or a control character", k.name)
			}
		}
	}
	return nil
}
