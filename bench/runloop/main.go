// Command runloop launches boxes through the sandbox library from one Go
// process, as a grader or CI runner written in Go does: the Go runtime and
// the CLI's parsing are paid once, not per box. It prints launches/s.
//
//	runloop -n 400 -p 2 -- /bin/true
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/sandbox-dev/sandbox/sandbox"
)

func main() {
	n := flag.Int("n", 400, "launches")
	p := flag.Int("p", 1, "launches at once")
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 {
		args = []string{"/bin/true"}
	}
	start := time.Now()
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for w := 0; w < *p; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				res, err := sandbox.Run(context.Background(), sandbox.Spec{Args: args})
				if err != nil || res.ExitCode != 0 {
					mu.Lock()
					failed++
					mu.Unlock()
					if err != nil {
						fmt.Fprintln(os.Stderr, "runloop:", err)
					}
				}
			}
		}()
	}
	for i := 0; i < *n; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	el := time.Since(start)
	fmt.Printf("%d launches, -p %d: %.1f launches/s, %.3f ms each\n", *n, *p, float64(*n)/el.Seconds(), el.Seconds()*1000/float64(*n))
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "runloop: %d launches failed\n", failed)
		os.Exit(1)
	}
}
