// Command ferretdb runs an embedded FerretDB v1 (SQLite backend) on a loopback TCP address.
//
// The upstream command cannot be installed with `go install` (it panics at start because an
// embedded version file is missing), so the project builds this small wrapper around the
// supported embedding API instead.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on (loopback only)")
	dataDir := flag.String("data-dir", "", "directory for the SQLite files (created if missing)")
	flag.Parse()

	if *dataDir == "" {
		log.Fatal("ferretdb: -data-dir is required")
	}
	if !strings.HasPrefix(*listen, "127.") && !strings.HasPrefix(*listen, "localhost:") {
		log.Fatalf("ferretdb: refusing to listen on %q: only loopback addresses are allowed", *listen)
	}
	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		log.Fatalf("ferretdb: data dir: %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatalf("ferretdb: create data dir: %v", err)
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
	})
	if err != nil {
		log.Fatalf("ferretdb: %v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	log.Printf("ferretdb: listening on %s, data in %s", *listen, dir)
	if err := f.Run(ctx); err != nil && ctx.Err() == nil {
		log.Fatalf("ferretdb: %v", err)
	}
	log.Print("ferretdb: stopped")
}
