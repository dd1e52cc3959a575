package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

const adminUsage = `usage: parley admin [-url URL] [-token TOKEN] COMMAND [ARGS]

The server's admin API (docs/operating.md#admin-api). URL defaults to
$PARLEY_URL, else http://127.0.0.1:8080; TOKEN to $PARLEY_ADMIN_TOKEN.

  rooms                                  list the rooms (JSON)
  get ROOM                               print the room file; its ETag on stderr
  put [-if-match ETAG] ROOM FILE         create the room from FILE ("-": stdin),
                                         or, with the ETag that get printed, change it
  delete -if-match ETAG ROOM             remove the room (its clips stay on disk)
  sessions ROOM                          who is in the room (JSON)
  kick ROOM ID                           send a session away
  delete-clip ROOM ID                    delete a clip
  token [-role R] [-ttl 24h] ROOM NAME   print a join token
`

// adminClient makes the admin API's requests.
type adminClient struct {
	base  string // http(s)://host:port
	token string
	http  *http.Client
	out   io.Writer
	info  io.Writer // what is not the answer (the ETag)
}

// runAdmin drives the admin API from a shell: parley admin [flags]
// COMMAND [ARGS].
func runAdmin(args []string, stdin io.Reader, out, info io.Writer) error {
	fs := flag.NewFlagSet("parley admin", flag.ContinueOnError)
	fs.SetOutput(info)
	fs.Usage = func() { fmt.Fprint(info, adminUsage) }
	base := fs.String("url", envOr("PARLEY_URL", "http://127.0.0.1:8080"), "the server's address")
	token := fs.String("token", os.Getenv("PARLEY_ADMIN_TOKEN"), "an admin token (admin.tokens in the server file)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // -h: the usage is printed
		}
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("admin: no command")
	}
	if *token == "" {
		return errors.New("admin: no token: give -token or set PARLEY_ADMIN_TOKEN")
	}
	u, err := url.Parse(*base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("admin: -url %q: want http(s)://host[:port]", *base)
	}
	c := &adminClient{base: strings.TrimSuffix(*base, "/"), token: *token, http: &http.Client{Timeout: 30 * time.Second}, out: out, info: info}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	sub := flag.NewFlagSet("parley admin "+cmd, flag.ContinueOnError)
	sub.SetOutput(info)
	ifMatch := sub.String("if-match", "", "the room file's ETag, as get printed it")
	role := sub.String("role", "", `"participant" (the default) or "operator"`)
	ttl := sub.String("ttl", "", "how long the token is valid (default 24h)")
	if err := sub.Parse(rest); err != nil {
		return err
	}
	n := map[string]int{"rooms": 0, "get": 1, "put": 2, "delete": 1, "sessions": 1, "kick": 2, "delete-clip": 2, "token": 2}
	want, known := n[cmd]
	if !known {
		fmt.Fprint(info, adminUsage)
		return fmt.Errorf("admin: unknown command %q", cmd)
	}
	a := sub.Args()
	if len(a) != want {
		fmt.Fprint(info, adminUsage)
		return fmt.Errorf("admin %s: want %d arguments, got %d", cmd, want, len(a))
	}
	room := func(i int) string { return "/api/admin/rooms/" + url.PathEscape(a[i]) }
	switch cmd {
	case "rooms":
		return c.do("GET", "/api/admin/rooms", nil, nil)
	case "get":
		return c.do("GET", room(0), nil, nil)
	case "put":
		var body []byte
		if a[1] == "-" {
			body, err = io.ReadAll(io.LimitReader(stdin, 1<<20))
		} else {
			body, err = os.ReadFile(a[1])
		}
		if err != nil {
			return fmt.Errorf("admin put: %w", err)
		}
		h := http.Header{"If-None-Match": {"*"}}
		if *ifMatch != "" {
			h = http.Header{"If-Match": {*ifMatch}}
		}
		return c.do("PUT", room(0), h, body)
	case "delete":
		if *ifMatch == "" {
			return errors.New("admin delete: -if-match ETAG is needed (get prints it)")
		}
		return c.do("DELETE", room(0), http.Header{"If-Match": {*ifMatch}}, nil)
	case "sessions":
		return c.do("GET", room(0)+"/sessions", nil, nil)
	case "kick":
		return c.do("DELETE", room(0)+"/sessions/"+url.PathEscape(a[1]), nil, nil)
	case "delete-clip":
		return c.do("DELETE", room(0)+"/clips/"+url.PathEscape(a[1]), nil, nil)
	default: // token
		body, _ := json.Marshal(map[string]string{"name": a[1], "role": *role, "ttl": *ttl})
		var tok struct {
			Token string `json:"token"`
		}
		if err := c.call("POST", room(0)+"/tokens", http.Header{"Content-Type": {"application/json"}}, body, &tok); err != nil {
			return err
		}
		_, err := fmt.Fprintln(out, tok.Token)
		return err
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// do makes a request and prints the answer's body; an ETag goes to info.
func (c *adminClient) do(method, path string, h http.Header, body []byte) error {
	return c.call(method, path, h, body, nil)
}

// call makes a request; a 2xx answer's body is decoded into v, or
// printed when v is nil. Any other answer is an error with the server's
// message.
func (c *adminClient) call(method, path string, h http.Header, body []byte, v any) error {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("admin: %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(data))
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return fmt.Errorf("admin: %s %s: %s: %s", method, path, resp.Status, msg)
	}
	if tag := resp.Header.Get("ETag"); tag != "" {
		fmt.Fprintln(c.info, "ETag:", tag)
	}
	if v != nil {
		return json.Unmarshal(data, v)
	}
	_, err = c.out.Write(data)
	return err
}
