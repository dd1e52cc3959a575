package configs

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestS3Valid(t *testing.T) {
	path := writeFile(t, "parley.toml", `[cluster]
redis_url = "redis://127.0.0.1:6379"
public_url = "https://node1.example.org"
[storage]
s3_endpoint = "https://s3.example.org"
s3_bucket = "parley-clips"
s3_region = "eu-central-1"
s3_path_style = false
s3_prefix = "site-1/clips"
s3_credentials_file = "/etc/parley/s3"
`)
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	st := s.Storage
	if !st.S3Enabled() || st.S3Bucket != "parley-clips" || st.S3Region != "eu-central-1" || st.S3PathStyle || st.S3Prefix != "site-1/clips" || st.S3CredentialsFile != "/etc/parley/s3" {
		t.Fatalf("storage %+v", st)
	}
	if Default().Storage.S3Enabled() {
		t.Fatal("S3 on by default")
	}
}

func TestS3Credentials(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	dir := t.TempDir()
	file := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	lines := file("lines", "# parley's bucket\nAKIA123\n\nsecret/with+chars=\n", 0o600)
	kv := file("kv", "secret_key = s3cr=t\naccess_key=AKIA456\n", 0o644)

	for _, c := range []struct {
		name   string
		getenv func(string) string
		file   string
		access string
		secret string
		err    string
	}{
		{"environment", env(EnvS3AccessKey, "AKIAENV", EnvS3SecretKey, "envsecret"), kv, "AKIAENV", "envsecret", ""},
		{"two lines", env(), lines, "AKIA123", "secret/with+chars=", ""},
		{"key = value", env(), kv, "AKIA456", "s3cr=t", ""},
		{"only the access key in the environment", env(EnvS3AccessKey, "AKIAENV"), kv, "", "", "PARLEY_S3_ACCESS_KEY is set but PARLEY_S3_SECRET_KEY is not"},
		{"only the secret in the environment", env(EnvS3SecretKey, "s"), kv, "", "", "PARLEY_S3_SECRET_KEY is set but PARLEY_S3_ACCESS_KEY is not"},
		{"none", env(), "", "", "", "S3 credentials: none: set PARLEY_S3_ACCESS_KEY and PARLEY_S3_SECRET_KEY, or storage.s3_credentials_file"},
		{"missing file", env(), filepath.Join(dir, "nothing"), "", "", "S3 credentials file: open " + filepath.Join(dir, "nothing")},
		{"one line", env(), file("one", "AKIA\n", 0o600), "", "", "want two lines, the access key then the secret key"},
		{"three lines", env(), file("three", "a\nb\nc\n", 0o600), "", "", "got 3"},
		{"unknown key", env(), file("unknown", "access_key = a\nsecret = b\n", 0o600), "", "", `unknown key "secret"`},
		{"key twice", env(), file("twice", "access_key = a\naccess_key = b\nsecret_key = c\n", 0o600), "", "", "access_key is given twice"},
		{"no secret", env(), file("nosecret", "access_key = a\n", 0o600), "", "", "want both access_key"},
		{"space in a key", env(), file("space", "AKIA 1\nsecret\n", 0o600), "", "", "the access key has a space"},
		{"too large", env(), file("large", strings.Repeat("a", 5000), 0o600), "", "", "more than a secret file holds"},
		{"a folder", env(), dir, "", "", "not a regular file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := Default().Storage
			st.S3CredentialsFile = c.file
			got, err := st.S3Credentials(c.getenv, log)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %+v, %v; want an error with %q", got, err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.AccessKey != c.access || got.SecretKey != c.secret {
				t.Fatalf("got %+v, want %q %q", got, c.access, c.secret)
			}
		})
	}
	// The file that others could read is now the owner's only.
	st, err := os.Stat(kv)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file mode %#o, want 0600", st.Mode().Perm())
	}
}
