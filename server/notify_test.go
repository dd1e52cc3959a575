package server

import (
	"bytes"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"os"
	"regexp"
	"strings"
	"testing"

	"parley/client"
	"parley/configs"
	"parley/internal/smtptest"
	"parley/internal/testcert"
	"parley/notify"
)

// TestNotifyMail: publishing a clip in a room with notify = true mails the
// listed users but the author, through a real SMTP server with STARTTLS
// and AUTH; the link in the mail fetches the clip.
func TestNotifyMail(t *testing.T) {
	tlsCfg, pool := testcert.ServerConfig(t, "127.0.0.1")
	mb := smtptest.Start(t, smtptest.Options{TLS: tlsCfg, User: "robot", Password: "s3cret"})
	// The links need the server's address before it starts.
	addr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	srv := startServerWith(t, Options{Mail: notify.Options{RootCAs: pool}}, func(cfg *configs.Server, rooms []configs.Room) {
		cfg.HTTP.Listen = addr
		cfg.HTTP.BaseURL = "http://" + addr
		cfg.Mail.Host, cfg.Mail.Port = "127.0.0.1", mb.Addr.Port
		cfg.Mail.User, cfg.Mail.Password = "robot", "s3cret"
		cfg.Mail.From = "parley <noreply@example.org>"
		for i := range rooms {
			if rooms[i].Name == "forum" {
				// Members only: the link in the mail must carry its key.
				rooms[i].Access, rooms[i].Password = configs.AccessPassword, testHash(t, "room pass")
				rooms[i].Notify = true
				rooms[i].NotifyAddresses = map[string]string{"ann": "ann@example.org", "bob": "Bob <bob@example.org>"}
			}
		}
	})
	_, j := srv.join(t, "forum", "ann", client.Options{Password: "room pass"})
	media, err := os.ReadFile("testdata/mediarecorder-opus.webm")
	if err != nil {
		t.Fatal(err)
	}
	clip := srv.upload(t, "/api/rooms/forum/clips?description=hello+bob", j.OwnerKey, "audio/webm", media)
	if clip.State != "draft" {
		t.Fatalf("uploaded %+v, want a draft", clip)
	}
	// A draft is nobody's business: no mail until it is published.
	if resp, body := srv.fetch(t, "POST", "/api/rooms/forum/clips/"+clip.ID+"/publish", j.OwnerKey, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("publish: %s %s", resp.Status, body)
	}
	got := mb.Wait(t, 1)
	if len(got) != 1 || got[0].To != "bob@example.org" || !got[0].TLS || !got[0].Authed || got[0].Helo != "[127.0.0.1]" {
		t.Fatalf("mails: %+v", got)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(got[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), "hello bob") {
		t.Errorf("the description is not in the mail:\n%s", body)
	}
	link := regexp.MustCompile(`http://\S+/clips/\S+`).FindString(string(body))
	if !strings.HasPrefix(link, fmt.Sprintf("http://%s/api/rooms/forum/clips/%s?key=", addr, clip.ID)) {
		t.Fatalf("link %q in:\n%s", link, body)
	}
	// Fetched as the recipient's mail program would: no credentials but
	// the link's key.
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	fetched, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "audio/webm") || int64(len(fetched)) != clip.Bytes {
		t.Fatalf("GET %s: %s, %s, %d bytes", link, resp.Status, resp.Header.Get("Content-Type"), len(fetched))
	}
}

// TestNotifyNeedsMail: a room that notifies without [mail] or base_url
// stops the server from starting, with a clear error.
func TestNotifyNeedsMail(t *testing.T) {
	rooms, err := configs.LoadRooms("")
	if err != nil {
		t.Fatal(err)
	}
	rooms[0].Notify = true
	rooms[0].NotifyAddresses = map[string]string{"ann": "ann@example.org"}
	cfg := configs.Default()
	cfg.Storage.DataDir = t.TempDir()
	_, err = New(cfg, rooms, testLogger())
	if err == nil || !strings.Contains(err.Error(), "mail.host: room "+rooms[0].Name+" has notify = true") || !strings.Contains(err.Error(), "http.base_url") {
		t.Fatalf("New: %v", err)
	}
}
