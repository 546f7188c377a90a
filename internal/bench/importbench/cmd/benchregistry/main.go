// Command benchregistry serves a source and a destination registry on
// loopback for the import benchmark (bench/import.sh) and seeds the source
// with images of random, incompressible layers generated at run time.
//
// It prints "SRC=host:port" and "DST=host:port", then "READY" once the
// images are pushed, and serves until it is interrupted or terminated.
//
//	benchregistry -kind distribution-fs -images big=256,256,256,256 -images one=1024
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/cssc-go/cssc/internal/bench/importbench"
	"github.com/cssc-go/cssc/registry"
)

type imagesFlag []string

func (f *imagesFlag) String() string     { return strings.Join(*f, " ") }
func (f *imagesFlag) Set(s string) error { *f = append(*f, s); return nil }

func main() {
	kind := flag.String("kind", "distribution-fs", "registry kind: distribution-fs, distribution-mem or ociregistry")
	dir := flag.String("dir", "", "storage directory for distribution-fs (default: a temporary directory, removed at exit)")
	repo := flag.String("repo", "bench/app", "source repository")
	var images imagesFlag
	flag.Var(&images, "images", "image to seed: tag=MiB,MiB,... (one size per layer); repeatable")
	flag.Parse()
	if len(images) == 0 {
		images = imagesFlag{"big=256,256,256,256", "one=1024"}
	}

	var cleanup []func()
	defer func() {
		for _, f := range cleanup {
			f()
		}
	}()
	var hosts [2]string
	for i, name := range []string{"SRC", "DST"} {
		h, err := importbench.Handler(*kind, *dir, name, &cleanup)
		if err != nil {
			log.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		go http.Serve(ln, h)
		hosts[i] = ln.Addr().String()
		fmt.Printf("%s=%s\n", name, hosts[i])
	}

	ctx := context.Background()
	client := registry.NewClient(registry.Options{PlainHTTP: hosts[:]})
	dst, err := client.Repository(ctx, registry.Join(hosts[0], *repo))
	if err != nil {
		log.Fatal(err)
	}
	for n, spec := range images {
		tag, sizes, ok := strings.Cut(spec, "=")
		if !ok {
			log.Fatalf("bad -images %q", spec)
		}
		var layers []int64
		for _, s := range strings.Split(sizes, ",") {
			mib, err := strconv.Atoi(s)
			if err != nil {
				log.Fatalf("bad -images %q: %v", spec, err)
			}
			layers = append(layers, int64(mib)<<20)
		}
		if err := importbench.Seed(ctx, dst, tag, uint64(n), layers); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("READY")

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}
