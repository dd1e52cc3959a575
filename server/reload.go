package server

import (
	"log/slog"
	"slices"
	"strings"

	"parley/configs"
	"parley/signaling"
)

// LiveKeys are the server file's keys that ReloadServer applies while
// the server runs. Any other key needs a restart.
var LiveKeys = []string{
	"log.level", "http.allowed_origins", "admin.tokens", "turn.secret",
	"http.max_connections_per_ip", "http.whep_starts_per_minute",
	"auth.failures_per_minute", "auth.failure_burst",
	"signaling.max_message_bytes", "signaling.messages_per_second", "signaling.message_burst",
	"signaling.ping_interval", "signaling.pong_timeout",
	"signaling.max_name_length", "signaling.max_chat_length",
	"signaling.call_timeout", "signaling.call_rejoin_grace",
}

// ReloadServer takes the server file read again (validated: configs.Load)
// and applies, at once, the keys of LiveKeys that changed: log.level (to
// Options.LogLevel; without it, log.level too needs a restart), the
// websocket origins allowed from the next upgrade, the admin tokens from
// the next request, the TURN secret for the credentials handed out from
// now on (those handed out before stay good until they expire:
// turn.Server.RotateSecret), and the limits: the signaling limits and
// the connections per address from the next session, message, join or
// call as signaling.Limits says, the rates of failed joins (and admin
// requests) and of WHEP starts per address from the next attempt
// (access.Limiter.SetRate). Every other key that changed keeps the value
// the server started with and is logged as needing a restart. It returns
// the keys applied and the keys that need a restart.
func (s *Server) ReloadServer(cfg configs.Server) (applied, restart []string) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	var limits, failures bool
	for _, key := range configs.ChangedKeys(s.running, cfg) {
		live := slices.Contains(LiveKeys, key) && (key != "log.level" || s.logLevel != nil)
		if !live {
			restart = append(restart, key)
			continue
		}
		switch {
		case key == "log.level":
			var level slog.Level
			_ = level.UnmarshalText([]byte(cfg.Log.Level)) // validated
			s.logLevel.Set(level)
			s.running.Log.Level = cfg.Log.Level
		case key == "http.allowed_origins":
			s.hub.SetAllowedOrigins(cfg.HTTP.AllowedOrigins)
			s.running.HTTP.AllowedOrigins = cfg.HTTP.AllowedOrigins
		case key == "admin.tokens":
			s.admin.setTokens(cfg.Admin.Tokens)
			s.running.Admin.Tokens = cfg.Admin.Tokens
		case key == "turn.secret":
			if _, err := s.turn.RotateSecret(cfg.TURN.Secret); err != nil {
				s.log.Error("server file: turn.secret not rotated", "err", err)
				continue
			}
			s.running.TURN.Secret = cfg.TURN.Secret
		case strings.HasPrefix(key, "signaling."): // every one of them is live
			s.running.Signaling = cfg.Signaling
			limits = true
		case key == "http.max_connections_per_ip":
			s.running.HTTP.MaxConnectionsPerIP = cfg.HTTP.MaxConnectionsPerIP
			limits = true
		case key == "http.whep_starts_per_minute":
			n := cfg.HTTP.WHEPStartsPerMinute
			s.whepStarts.SetRate(float64(n), n) // 0: off
			s.running.HTTP.WHEPStartsPerMinute = n
		case key == "auth.failures_per_minute", key == "auth.failure_burst":
			s.running.Auth.FailuresPerMinute = cfg.Auth.FailuresPerMinute
			s.running.Auth.FailureBurst = cfg.Auth.FailureBurst
			failures = true
		}
		applied = append(applied, key)
	}
	if limits {
		s.hub.SetLimits(hubLimits(s.running))
	}
	if failures {
		a := s.running.Auth
		s.joinFailures.SetRate(a.FailuresPerMinute, a.FailureBurst)
		s.admin.failures.SetRate(a.FailuresPerMinute, a.FailureBurst)
	}
	if len(applied) > 0 {
		s.log.Info("server file reloaded: applied", "keys", applied)
	}
	for _, key := range restart {
		s.log.Warn("server file changed: needs a restart", "key", key)
	}
	return applied, restart
}

// hubLimits are the signaling hub's limits in cfg.
func hubLimits(cfg configs.Server) signaling.Limits {
	return signaling.Limits{
		Signaling:           cfg.Signaling,
		CallTimeout:         cfg.Signaling.CallTimeout.D(),
		CallRejoinGrace:     cfg.Signaling.CallRejoinGrace.D(),
		MaxConnectionsPerIP: cfg.HTTP.MaxConnectionsPerIP,
	}
}
