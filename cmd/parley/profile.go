package main

import (
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"
)

// profileOnSignal profiles the CPU between a SIGUSR1 and the next SIGUSR2
// and writes the profile to file, so that a load generator can profile
// exactly its measurement window. It also writes the allocation profile
// at both signals, to file.allocs-start and file.allocs-end: their
// difference (go tool pprof -base) is what the window allocated; and at
// the second, the goroutines (file.goroutines-end, as text). The
// returned function stops listening and writes a profile that is still
// running.
func profileOnSignal(file string, log *slog.Logger) func() {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
	done := make(chan struct{})
	stopped := make(chan struct{})
	var f *os.File
	allocs := func(suffix string) {
		runtime.GC() // the profile is as of the last collection
		if err := writeProfile(file+".allocs-"+suffix, "allocs", 0); err != nil {
			log.Error("allocation profile", "file", file, "err", err)
		}
		if suffix != "end" {
			return
		}
		// The goroutines at the end, counted by stack: what each
		// connection keeps running.
		if err := writeProfile(file+".goroutines-end", "goroutine", 1); err != nil {
			log.Error("goroutine profile", "file", file, "err", err)
		}
	}
	finish := func() {
		if f == nil {
			return
		}
		pprof.StopCPUProfile()
		allocs("end")
		if err := f.Close(); err != nil {
			log.Error("cpu profile", "file", file, "err", err)
		} else {
			log.Info("cpu profile written", "file", file)
		}
		f = nil
	}
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				finish()
				return
			case s := <-sigs:
				if s == syscall.SIGUSR2 {
					finish()
					continue
				}
				if f != nil {
					continue
				}
				allocs("start")
				var err error
				if f, err = os.Create(file); err != nil {
					log.Error("cpu profile", "file", file, "err", err)
					f = nil
					continue
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					log.Error("cpu profile", "err", err)
					f.Close()
					f = nil
					continue
				}
				log.Info("cpu profile started", "file", file)
			}
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
		<-stopped
	}
}

// writeProfile writes the named runtime profile to a new file name, in
// the format debug gives (0: compressed protocol buffer, 1: text).
func writeProfile(name, profile string, debug int) error {
	out, err := os.Create(name)
	if err != nil {
		return err
	}
	err = pprof.Lookup(profile).WriteTo(out, debug)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
