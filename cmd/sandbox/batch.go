package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sandbox-dev/sandbox/internal/outfile"
	"github.com/sandbox-dev/sandbox/sandbox"
)

// batchCmd runs many boxes from one process: graders who script in Python
// or shell get the library's throughput without writing Go.
type batchCmd struct {
	Jobs   int    `short:"j" help:"Boxes to run at once (default: the number of CPUs)." placeholder:"N"`
	Output string `short:"o" help:"Write the result lines to FILE instead of stdout." placeholder:"FILE"`
	Input  string `arg:"" optional:"" help:"JSON lines, one run each (default: stdin)." placeholder:"FILE"`
}

// batchLine is one input line: a sandbox.Spec in its JSON form, with
// times in seconds and the box's stdio as file paths.
type batchLine struct {
	ID string `json:"id"`
	sandbox.Spec
	// These shadow the Spec's fields of the same JSON name.
	Timeout float64 `json:"timeout"`  // seconds
	CPUTime float64 `json:"cpu_time"` // seconds
	Stdin   string  `json:"stdin"`    // a file to read; default /dev/null
	Stdout  string  `json:"stdout"`   // a file to create; default: discarded
	Stderr  string  `json:"stderr"`
}

// batchResult is one output line: the input line's id and number, and the
// --report fields. Lines come out as their runs end, not in input order.
type batchResult struct {
	ID   string `json:"id"`
	Line int    `json:"line"`
	sandbox.Report
}

func (c *batchCmd) Run() error {
	in := io.Reader(os.Stdin)
	if c.Input != "" && c.Input != "-" {
		f, err := os.Open(c.Input)
		if err != nil {
			return &exitError{code: sandbox.ExitSetup, err: fmt.Errorf("batch input: %w", err)}
		}
		defer f.Close()
		in = f
	}
	out := os.Stdout
	if c.Output != "" {
		// Opened before any box starts, so nothing a box does to the path
		// changes where the results go.
		f, err := createOutput(c.Output)
		if err != nil {
			return &exitError{code: sandbox.ExitSetup, err: fmt.Errorf("-o: %w", err)}
		}
		defer f.Close()
		out = f
	}
	jobs := c.Jobs
	if jobs <= 0 {
		jobs = runtime.NumCPU()
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	var stopSig syscall.Signal
	var once sync.Once
	go func() {
		if s, ok := (<-sigs).(syscall.Signal); ok {
			once.Do(func() { stopSig = s })
		}
		cancel() // every running box is killed; no new one starts
	}()

	var mu sync.Mutex
	enc := json.NewEncoder(out)
	emit := func(r batchResult) {
		mu.Lock()
		defer mu.Unlock()
		enc.Encode(r)
	}
	lines := make(chan batchInput)
	var wg sync.WaitGroup
	for range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l := range lines {
				emit(runLine(ctx, l))
			}
		}()
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	n := 0
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		n++
		lines <- batchInput{n: n, text: text}
	}
	close(lines)
	wg.Wait()
	if stopSig != 0 {
		return &exitError{code: 128 + int(stopSig)}
	}
	if err := sc.Err(); err != nil {
		return &exitError{code: sandbox.ExitSetup, err: fmt.Errorf("batch input, after line %d: %w", n, err)}
	}
	return nil
}

type batchInput struct {
	n    int
	text string
}

// runLine runs one line's box; a line that cannot run gives a setup-error
// result naming the line, and never stops the batch.
func runLine(ctx context.Context, in batchInput) batchResult {
	var l batchLine
	fail := func(err error) batchResult {
		res := sandbox.Result{Status: sandbox.StatusSetupError, ExitCode: sandbox.ExitSetup}
		return batchResult{ID: l.ID, Line: in.n, Report: sandbox.NewReport(res, &l.Spec, fmt.Errorf("line %d: %w", in.n, err))}
	}
	dec := json.NewDecoder(strings.NewReader(in.text))
	dec.DisallowUnknownFields() // a misspelt limit must not pass unnoticed
	if err := dec.Decode(&l); err != nil {
		return fail(fmt.Errorf("not a run: %w", err))
	}
	if ctx.Err() != nil {
		res := sandbox.Result{Status: sandbox.StatusCancelled, ExitCode: sandbox.ExitSetup}
		return batchResult{ID: l.ID, Line: in.n, Report: sandbox.NewReport(res, &l.Spec, errors.New("not started: the batch was stopped"))}
	}
	s := l.Spec
	for _, d := range []struct {
		field string
		v     float64
		to    *time.Duration
	}{{"timeout", l.Timeout, &s.Timeout}, {"cpu_time", l.CPUTime, &s.CPUTime}} {
		if !(d.v >= 0) || d.v > float64(1<<62)/float64(time.Second) {
			return fail(fmt.Errorf("%s: %v is not a number of seconds", d.field, d.v))
		}
		*d.to = time.Duration(d.v * float64(time.Second))
	}
	if s.TTY {
		return fail(errors.New("tty: a batch has no terminal to relay"))
	}
	s.Accounting = true
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	if l.Stdin != "" {
		f, err := os.Open(l.Stdin)
		if err != nil {
			return fail(fmt.Errorf("stdin: %w", err))
		}
		files = append(files, f)
		s.Stdin = f
	}
	for _, o := range []struct {
		field, path string
		to          *io.Writer
	}{{"stdout", l.Stdout, &s.Stdout}, {"stderr", l.Stderr, &s.Stderr}} {
		if o.path == "" {
			continue
		}
		f, err := createOutput(o.path)
		if err != nil {
			return fail(fmt.Errorf("%s: %w", o.field, err))
		}
		files = append(files, f)
		*o.to = f
	}
	res, err := sandbox.Run(ctx, s)
	return batchResult{ID: l.ID, Line: in.n, Report: sandbox.NewReport(res, &s, err)}
}

// createOutput opens a file the supervisor writes for the caller before
// the box starts (outfile.Open), and empties it.
func createOutput(path string) (*os.File, error) {
	f, err := outfile.Open(path)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
