package primary

import (
	"bytes"
	"fmt"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

// markdown renders descriptions: CommonMark and GitHub tables, raw HTML
// left out (goldmark's default, no WithUnsafe), and the output sanitised
// again (links only http, https and mailto; no script, style or event
// attribute), so that what a publisher writes never runs in a visitor's
// page.
var (
	markdown  = goldmark.New(goldmark.WithExtensions(extension.Table, extension.Strikethrough, extension.Linkify))
	sanitiser = func() *bluemonday.Policy {
		p := bluemonday.UGCPolicy()
		p.AllowURLSchemes("http", "https", "mailto")
		p.RequireNoFollowOnLinks(true)
		return p
	}()
)

// renderMarkdown is the safe HTML of a description written in markdown.
func renderMarkdown(src string) (string, error) {
	if src == "" {
		return "", nil
	}
	var buf bytes.Buffer
	if err := markdown.Convert([]byte(src), &buf); err != nil {
		return "", fmt.Errorf("render markdown: %w", err)
	}
	return string(bytes.TrimSpace(sanitiser.SanitizeBytes(buf.Bytes()))), nil
}
