// Command parley runs the parley server: voice and video rooms with live
// forwarding, server-side clips and a browser client, in one binary.
//
//	parley                      built-in defaults and demo rooms, on 127.0.0.1:8080
//	parley -config parley.toml  a server config file (rooms from its rooms.dir)
//	parley -check-config        validate the configuration and exit
//	parley -cpuprofile F        SIGUSR1 starts a CPU profile, SIGUSR2 writes it to F
//	parley token -room R -name N [-role operator] [-ttl 24h] [-config F]
//	                            print a join token
//	parley hash-password        read a password on stdin, print its bcrypt hash
//	parley version              print the version, commit, date and Go version
//	parley admin [-url U] [-token T] COMMAND [ARGS]
//	                            drive the admin API (rooms, sessions, clips, tokens)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"parley/configs"
	"parley/server"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "parley:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "token":
			return runToken(args[1:], os.Stdout)
		case "hash-password":
			return runHashPassword(args[1:], os.Stdin, os.Stdout)
		case "version":
			return printVersion(os.Stdout)
		case "admin":
			return runAdmin(args[1:], os.Stdin, os.Stdout, os.Stderr)
		}
	}
	fs := flag.NewFlagSet("parley", flag.ContinueOnError)
	configPath := fs.String("config", "", "server config file (TOML); empty for the built-in defaults")
	check := fs.Bool("check-config", false, "validate the configuration and the room files, then exit")
	cpuProfile := fs.String("cpuprofile", "", "with it, SIGUSR1 starts a CPU profile and SIGUSR2 writes it to this file (for profiling under load)")
	showVersion := fs.Bool("version", false, "print the version and exit (as parley version)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // -h: the usage is printed
		}
		return err
	}
	if *showVersion {
		return printVersion(os.Stdout)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg, rooms, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	if *check {
		fmt.Printf("configuration OK: %d rooms\n", len(rooms))
		return nil
	}
	level := new(slog.LevelVar)
	log := newLogger(cfg.Log, level)

	srv, err := server.NewWith(cfg, rooms, server.Options{LogLevel: level}, log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	media := []any{}
	if a := srv.MediaUDPAddr(); a != nil {
		media = append(media, "media_udp", a.String())
	} else {
		media = append(media, "media_udp_range", fmt.Sprintf("%d-%d", cfg.Media.UDPPortMin, cfg.Media.UDPPortMax))
	}
	if a := srv.MediaTCPAddr(); a != nil {
		media = append(media, "media_tcp", a.String())
	}
	if a := srv.MetricsAddr(); a != nil {
		media = append(media, "metrics", "http://"+a.String()+"/metrics")
	}
	log.Info("parley listening", append([]any{"url", srv.URL()}, media...)...)
	for _, r := range srv.Rooms() {
		log.Info("room loaded", "room", r.Name, "mode", r.Mode, "title", r.Title)
	}

	if *cpuProfile != "" {
		stopProfiling := profileOnSignal(*cpuProfile, log)
		defer stopProfiling()
	}

	// SIGHUP reads the server file and the room files again (the
	// watcher reads the room files every second too).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
wait:
	for {
		select {
		case err := <-served:
			return err
		case <-hup:
			reload(srv, *configPath, log)
		case <-ctx.Done():
			break wait
		}
	}
	stop() // a second Ctrl-C kills at once
	log.Info("shutting down", "timeout", cfg.HTTP.ShutdownTimeout.D())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout.D())
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("shutdown: %w", err)
	}
	<-served
	log.Info("stopped")
	return nil
}

// reload is SIGHUP's: the server file read again (what can change at
// run time applies, the rest is logged as needing a restart), then the
// room files. A server file that does not validate is refused, logged,
// and nothing of it applies.
func reload(srv *server.Server, configPath string, log *slog.Logger) {
	log.Info("SIGHUP: reading the configuration again")
	if configPath != "" {
		cfg, err := configs.Load(configPath)
		if err != nil {
			log.Error("server file refused: the server keeps its settings", "err", err)
		} else {
			srv.ReloadServer(cfg)
		}
	}
	if err := srv.ReloadRooms(); errors.Is(err, server.ErrNoRoomsDir) {
		log.Info("SIGHUP: no rooms.dir; the built-in rooms do not change")
	}
}

func newLogger(c configs.Log, level *slog.LevelVar) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(c.Level))
	level.Set(l)
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// loadConfig loads the server file at path (empty: the defaults) and the
// rooms it names.
func loadConfig(path string) (configs.Server, []configs.Room, error) {
	cfg, err := configs.Load(path)
	if err != nil {
		return cfg, nil, err
	}
	rooms, err := configs.LoadRooms(cfg.Rooms.Dir)
	if err == nil {
		err = configs.CheckRooms(cfg, rooms)
	}
	return cfg, rooms, err
}
