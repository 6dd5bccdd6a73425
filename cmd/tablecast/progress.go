package main

import (
	"io"
	"os"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress counts bytes sent; on a terminal it draws a bar with the bytes
// and the rate, elsewhere it is quiet. tablecast import and insert share it.
type progress interface {
	io.Writer
	// Finish completes the bar (a no-op when quiet).
	Finish()
}

// newProgress returns a bar on out (of total bytes, -1 when unknown)
// when out is a terminal, and a quiet progress otherwise.
func newProgress(out *os.File, total int64, desc string) progress {
	if !isTerminal(out) {
		return quiet{}
	}
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(out),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100_000_000), // 100 ms between redraws
		progressbar.OptionShowCount(),
		progressbar.OptionOnCompletion(func() { _, _ = io.WriteString(out, "\n") }),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionFullWidth(),
		progressbar.OptionUseANSICodes(true),
	)
	return &bar64{bar}
}

type bar64 struct{ b *progressbar.ProgressBar }

func (b *bar64) Write(p []byte) (int, error) { return b.b.Write(p) }
func (b *bar64) Finish()                     { _ = b.b.Finish() }

type quiet struct{}

func (quiet) Write(p []byte) (int, error) { return len(p), nil }
func (quiet) Finish()                     {}

// isTerminal reports whether f is a terminal: the one terminal-or-quiet
// decision of tablecast import and insert.
func isTerminal(f *os.File) bool {
	return f != nil && term.IsTerminal(int(f.Fd()))
}
