package configs

import (
	"net/mail"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Mail configures the SMTP server that notification mail goes through
// (package notify). Rooms with notify = true need it and http.base_url.
type Mail struct {
	// Host is the SMTP server's name or IP; "" means no mail is sent.
	Host string `toml:"host" json:"host"`
	// Port is the SMTP port: 587 (submission, STARTTLS), 465 (implicit
	// TLS) or 25; 1-65535.
	Port int `toml:"port" json:"port"`
	// Security is "starttls" (upgrade a plain connection; refused if the
	// server does not offer it), "tls" (TLS from the start, port 465) or
	// "none" (plain text; only for a relay on this host).
	Security string `toml:"security" json:"security"`
	// User and Password authenticate (AUTH PLAIN) when User is set; never
	// over a plain connection except to a loopback host.
	User     string `toml:"user" json:"user"`
	Password string `toml:"password" json:"-"`
	// From is the sender, e.g. "parley <noreply@example.org>"; needed with
	// Host. ReplyTo is optional.
	From    string `toml:"from" json:"from"`
	ReplyTo string `toml:"reply_to" json:"reply_to"`
	// CAFile is a PEM file of CA certificates trusted for the SMTP
	// server besides the system's (a relay with a private CA); "" = none.
	CAFile string `toml:"ca_file" json:"ca_file"`
	// Attempts is how often one mail is tried before it is given up; 1-20.
	// A permanent refusal (a 5xx reply) is not tried again.
	Attempts int `toml:"attempts" json:"attempts"`
	// RetryDelay is the wait before the first retry; each next wait is
	// twice the last. More than 0, at most 24h.
	RetryDelay Duration `toml:"retry_delay" json:"retry_delay"`
	// Timeout bounds one delivery attempt, connection to QUIT; 1s-10m.
	Timeout Duration `toml:"timeout" json:"timeout"`
}

// Mail security values.
const (
	MailStartTLS = "starttls"
	MailTLS      = "tls"
	MailPlain    = "none"
)

// Enabled reports whether mail is configured.
func (m Mail) Enabled() bool { return m.Host != "" }

func defaultMail() Mail {
	return Mail{
		Port:       587,
		Security:   MailStartTLS,
		Attempts:   5,
		RetryDelay: Duration(time.Minute),
		Timeout:    Duration(30 * time.Second),
	}
}

// problems checks the [mail] section. With no host, the other keys are
// not used, but their values must still be sane.
func (m Mail) problems(p *problems) {
	if m.Host != "" && !validHost(m.Host) {
		p.add("mail.host", "want a host name or IP address like \"smtp.example.org\", got %q", m.Host)
	}
	checkRange(p, "mail.port", int64(m.Port), 1, 65535)
	switch m.Security {
	case MailStartTLS, MailTLS:
	case MailPlain:
		if m.User != "" && m.Host != "" && !loopbackHost(m.Host) {
			p.add("mail.security", "is \"none\" but user is set: the password would cross the network in clear; use \"starttls\" or \"tls\" (plain text is allowed only to a loopback host)")
		}
	default:
		p.add("mail.security", "must be \"starttls\", \"tls\" or \"none\", got %q", m.Security)
	}
	if m.Password != "" && m.User == "" {
		p.add("mail.password", "is set but user is empty")
	}
	if m.Host != "" && m.From == "" {
		p.add("mail.from", "is needed to send mail: the sender, e.g. \"parley <noreply@example.org>\"")
	}
	if m.From != "" {
		if msg := checkAddress(m.From); msg != "" {
			p.add("mail.from", "%s", msg)
		}
	}
	if m.ReplyTo != "" {
		if msg := checkAddress(m.ReplyTo); msg != "" {
			p.add("mail.reply_to", "%s", msg)
		}
	}
	checkRange(p, "mail.attempts", int64(m.Attempts), 1, 20)
	if m.RetryDelay <= 0 || m.RetryDelay.D() > 24*time.Hour {
		p.add("mail.retry_delay", "must be more than 0s and at most 24h, got %s", m.RetryDelay)
	}
	if m.Timeout.D() < time.Second || m.Timeout.D() > 10*time.Minute {
		p.add("mail.timeout", "must be between 1s and 10m, got %s", m.Timeout)
	}
}

// checkAddress returns "" if s is one mail address ("ann@example.org" or
// "Ann <ann@example.org>"), else the problem.
func checkAddress(s string) string {
	if strings.ContainsAny(s, "\r\n") {
		return "must be one line"
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return "want a mail address like \"ann@example.org\" or \"Ann <ann@example.org>\", got " + quote(s)
	}
	if _, domain, _ := strings.Cut(a.Address, "@"); !validHost(strings.TrimSuffix(domain, ".")) {
		return "bad domain in " + quote(s)
	}
	return ""
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

// loopbackHost reports whether host is localhost or a loopback IP.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// checkBaseURL checks http.base_url: "" or an absolute http(s) URL of the
// site's root.
func checkBaseURL(p *problems, v string) {
	if v == "" {
		return
	}
	const want = `want the site's public address like "https://chat.example.org" (scheme://host[:port], no path)`
	u, err := url.Parse(v)
	switch {
	case err != nil:
		p.add("http.base_url", "%s, got %q", want, v)
	case u.Scheme != "http" && u.Scheme != "https":
		p.add("http.base_url", "%s, got %q (scheme must be http or https)", want, v)
	case u.Host == "" || u.User != nil || u.Opaque != "" || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/"):
		p.add("http.base_url", "%s, got %q", want, v)
	}
}

// notifyProblems checks a room's notification settings.
func (r Room) notifyProblems(p *problems) {
	if r.Notify && len(r.NotifyAddresses) == 0 {
		p.add("notify", "is true but [notify_addresses] lists nobody: add name = \"address\" lines, or set notify = false")
	}
	for name, addr := range r.NotifyAddresses {
		if name == "" || strings.TrimSpace(name) != name || len([]rune(name)) > 64 {
			p.add("notify_addresses", "user %q: a name must be 1-64 characters without leading or trailing spaces", name)
		}
		if msg := checkAddress(addr); msg != "" {
			p.add("notify_addresses", "user %q: %s", name, msg)
		}
	}
}

// CheckRooms reports the problems that need both the server configuration
// and the rooms: a room that sends notifications needs [mail] and
// http.base_url.
func CheckRooms(s Server, rooms []Room) error {
	var p problems
	for _, r := range rooms {
		if !r.Notify {
			continue
		}
		if !s.Mail.Enabled() {
			p.add("mail.host", "room %s has notify = true, but no SMTP server is set: set mail.host (and mail.from) or turn notify off", r.Name)
		}
		if s.HTTP.BaseURL == "" {
			p.add("http.base_url", "room %s has notify = true, but the links in its mail need the site's address: set http.base_url, e.g. \"https://chat.example.org\"", r.Name)
		}
	}
	return p.err("")
}
