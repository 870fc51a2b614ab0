package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The names of the stages, as they appear in chains, task subjects and
// metrics. The stage packages return them from Name.
const (
	StagePGP = "pgp" // pipeline/decrypt
	StageZIP = "zip" // pipeline/unzip
	StageCSV = "csv" // pipeline/csvcheck
)

// stageFor returns the stage that takes content of kind k: the chain is
// chosen by content, never by file name.
func stageFor(k Kind) string {
	switch k {
	case KindOpenPGP:
		return StagePGP
	case KindZIP:
		return StageZIP
	}
	return StageCSV
}

// readHead returns the first SniffLen bytes of blob key (fewer for a shorter
// blob).
func readHead(ctx context.Context, blobs Blobs, key string) ([]byte, error) {
	r, err := blobs.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	head := make([]byte, SniffLen)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read blob %q: %w", key, err)
	}
	return head[:n], nil
}

// route decides where an output of a stage goes next: the stage its content
// needs, or a reason to reject it when the chain would grow too long. How
// many ZIP levels are opened is the zip stage's own limit.
func route(cfg RunnerConfig, o Object, head []byte) (next, reject string) {
	next = stageFor(Sniff(head))
	if len(o.Chain)+1 > cfg.MaxDepth {
		return "", fmt.Sprintf("nested too deep: the file already went through %d stages (%s) and needs a %s stage too; at most %d are allowed (pipeline.max_depth)",
			len(o.Chain), strings.Join(o.Chain, ", "), next, cfg.MaxDepth)
	}
	return next, ""
}
