// Command prebuild builds every pinned tool of tools/go.mod into the test
// tool cache, so that a cold `go test ./...` does not spend its per-package
// time budget compiling Prometheus. CI runs it first:
//
//	go run ./internal/gotool/prebuild
package main

import (
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/ordersvc/ordersvc/internal/gotool"
)

func main() {
	names := make([]string, 0, len(gotool.Packages))
	for name := range gotool.Packages {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		start := time.Now()
		path, err := gotool.Build(name)
		if err != nil {
			fmt.Fprintf(os.Stderr, "prebuild: %v\n", err)
			os.Exit(1)
		}
		fmt.Printf("%-12s %s (%s)\n", name, path, time.Since(start).Round(time.Millisecond))
	}
}
