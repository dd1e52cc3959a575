package server

import (
	"log/slog"
	"slices"

	"parley/configs"
)

// LiveKeys are the server file's keys that ReloadServer applies while
// the server runs. Any other key needs a restart.
var LiveKeys = []string{"log.level", "http.allowed_origins", "admin.tokens", "turn.secret"}

// ReloadServer takes the server file read again (validated: configs.Load)
// and applies, at once, the keys of LiveKeys that changed: log.level (to
// Options.LogLevel; without it, log.level too needs a restart), the
// websocket origins allowed from the next upgrade, the admin tokens from
// the next request, the TURN secret for the credentials handed out from
// now on (those handed out before stay good until they expire:
// turn.Server.RotateSecret). Every other key that changed keeps the value the
// server started with and is logged as needing a restart. It returns the
// keys applied and the keys that need a restart.
func (s *Server) ReloadServer(cfg configs.Server) (applied, restart []string) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	for _, key := range configs.ChangedKeys(s.running, cfg) {
		live := slices.Contains(LiveKeys, key) && (key != "log.level" || s.logLevel != nil)
		if !live {
			restart = append(restart, key)
			continue
		}
		switch key {
		case "log.level":
			var level slog.Level
			_ = level.UnmarshalText([]byte(cfg.Log.Level)) // validated
			s.logLevel.Set(level)
			s.running.Log.Level = cfg.Log.Level
		case "http.allowed_origins":
			s.hub.SetAllowedOrigins(cfg.HTTP.AllowedOrigins)
			s.running.HTTP.AllowedOrigins = cfg.HTTP.AllowedOrigins
		case "admin.tokens":
			s.admin.setTokens(cfg.Admin.Tokens)
			s.running.Admin.Tokens = cfg.Admin.Tokens
		case "turn.secret":
			if _, err := s.turn.RotateSecret(cfg.TURN.Secret); err != nil {
				s.log.Error("server file: turn.secret not rotated", "err", err)
				continue
			}
			s.running.TURN.Secret = cfg.TURN.Secret
		}
		applied = append(applied, key)
	}
	if len(applied) > 0 {
		s.log.Info("server file reloaded: applied", "keys", applied)
	}
	for _, key := range restart {
		s.log.Warn("server file changed: needs a restart", "key", key)
	}
	return applied, restart
}
