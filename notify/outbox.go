package notify

import (
	"errors"
	"path/filepath"

	"parley/internal/outbox"
)

// The mailer keeps every mail not yet sent or given up in
// <data_dir>/mail/outbox (package outbox), so that a restart loses none.

// storedMail is an outbox file.
type storedMail struct {
	Room     string `json:"room"`
	Clip     string `json:"clip"`
	ToName   string `json:"to_name"`
	ToAddr   string `json:"to_addr"`
	Attempts int    `json:"attempts"`
	Message  []byte `json:"message"` // the whole mail, headers and body
}

func openOutbox(dataDir string) (*outbox.Outbox, error) {
	return outbox.Open(filepath.Join(dataDir, "mail", "outbox"), "mail outbox")
}

func (j *job) stored() storedMail {
	return storedMail{Room: j.room, Clip: j.clipID, ToName: j.to.name, ToAddr: j.to.addr.Address,
		Attempts: j.attempts, Message: j.msg}
}

// checkStored refuses an outbox file that cannot be a mail.
func checkStored(m *storedMail) error {
	if m.Room == "" || m.ToAddr == "" || len(m.Message) == 0 || m.Attempts < 0 {
		return errors.New("missing room, address or message")
	}
	return nil
}
