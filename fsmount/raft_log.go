package fsmount

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sort"

	"github.com/hashicorp/go-hclog"
)

// newRaftLogger returns an hclog.Logger for raft that passes warnings and
// errors on to logger. hclog writes one JSON object per entry; raftLogWriter
// turns each back into an slog record.
func newRaftLogger(logger *slog.Logger) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:        "raft",
		Level:       hclog.Warn,
		Output:      &raftLogWriter{logger: logger},
		JSONFormat:  true,
		DisableTime: true,
	})
}

// raftLogWriter receives hclog's JSON lines.
type raftLogWriter struct{ logger *slog.Logger }

func (w *raftLogWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimSpace(p), []byte("\n")) {
		w.logLine(line)
	}
	return len(p), nil
}

// logLine logs one hclog JSON entry: @level, @message and @module become
// the level, message and "module"; other fields become attributes.
func (w *raftLogWriter) logLine(line []byte) {
	var entry map[string]any
	if err := json.Unmarshal(line, &entry); err != nil {
		w.logger.Warn(string(line))
		return
	}
	level := slog.LevelWarn
	if entry["@level"] == "error" {
		level = slog.LevelError
	}
	msg, _ := entry["@message"].(string)
	attrs := []slog.Attr{slog.Any("module", entry["@module"])}
	keys := make([]string, 0, len(entry))
	for k := range entry {
		if k != "" && k[0] != '@' {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		attrs = append(attrs, slog.Any(k, entry[k]))
	}
	w.logger.LogAttrs(context.Background(), level, msg, attrs...)
}
