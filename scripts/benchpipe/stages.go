package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/sluicehq/sluice/blob"
	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/pipeline"
	"github.com/sluicehq/sluice/pipeline/csvcheck"
	"github.com/sluicehq/sluice/pipeline/decrypt"
	"github.com/sluicehq/sluice/pipeline/unzip"
)

const (
	benchAccount = "bench"
	benchFeedN   = "orders"
	benchUpload  = "01JBENCHUP0000000000000000"
)

// runStage runs one stage's Process on o.in once and measures it. The
// input is hard-linked (or, across file systems, copied before the clock
// starts) into a blob.Dir under a temporary folder, which is removed
// afterwards with the stage's outputs.
func runStage(ctx context.Context, o options) (Figures, error) {
	work := o.work
	if work == "" {
		work = filepath.Dir(o.in)
	}
	dir, err := os.MkdirTemp(work, "benchpipe-")
	if err != nil {
		return Figures{}, fmt.Errorf("create blob folder: %w", err)
	}
	defer os.RemoveAll(dir)
	blobs, err := blob.Open(dir)
	if err != nil {
		return Figures{}, err
	}
	defer blobs.Close()
	in, err := putInput(dir, o.in)
	if err != nil {
		return Figures{}, err
	}

	stage, err := newStage(o, blobs)
	if err != nil {
		return Figures{}, err
	}
	cpu0 := cpuSeconds()
	start := time.Now()
	outs, err := stage.Process(ctx, in)
	secs := time.Since(start).Seconds()
	cpu := cpuSeconds() - cpu0
	if err != nil {
		return Figures{}, fmt.Errorf("%s stage: %w", o.stage, err)
	}
	f := Figures{Stage: o.stage, InBytes: in.Size, Outputs: len(outs), Seconds: secs, CPUSeconds: cpu}
	for _, out := range outs {
		if r := out.Result; r != nil {
			if !r.Accepted {
				return Figures{}, fmt.Errorf("csv stage rejected the file: %s (%d problems, first %+v)", r.Reason, r.ProblemsN, r.Problems)
			}
			f.Rows += r.Rows
		}
		f.OutBytes += out.Size
	}
	if len(outs) == 0 {
		return Figures{}, errors.New("the stage returned no output")
	}
	f.InMBps = float64(f.InBytes) / 1e6 / secs
	f.OutMBps = float64(f.OutBytes) / 1e6 / secs
	return f, nil
}

// cpuSeconds is the user and system CPU time the process used so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// putInput makes path the blob "<upload>/in" of the blob folder dir and
// returns the upload's Object.
func putInput(dir, path string) (pipeline.Object, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return pipeline.Object{}, fmt.Errorf("input: %w", err)
	}
	if err := os.Mkdir(filepath.Join(dir, benchUpload), 0o750); err != nil {
		return pipeline.Object{}, fmt.Errorf("create upload folder: %w", err)
	}
	dst := filepath.Join(dir, benchUpload, "in")
	if err := os.Link(path, dst); err != nil {
		if err := copyFile(dst, path); err != nil {
			return pipeline.Object{}, err
		}
	}
	return pipeline.Object{
		ID:       benchUpload,
		UploadID: benchUpload,
		Account:  benchAccount,
		Feed:     benchFeedN,
		Name:     filepath.Base(path),
		Key:      benchUpload + "/in",
		Size:     fi.Size(),
	}, nil
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy input: %w", err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return fmt.Errorf("copy input: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy input: %w", err)
	}
	return out.Close()
}

// newStage builds the real stage o.stage names over blobs.
func newStage(o options, blobs pipeline.Blobs) (pipeline.Stage, error) {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	switch o.stage {
	case "pgp":
		keys, err := readKeys(o.key, o.passFile)
		if err != nil {
			return nil, err
		}
		return decrypt.New(decrypt.DefaultConfig(), blobs, keys, noSignature{}, logger)
	case "zip":
		pw, err := readSecret(o.zpw)
		if err != nil {
			return nil, err
		}
		return unzip.New(unzip.DefaultConfig(), blobs, passwords{pw}, noZipCrypto{}, logger)
	default:
		feed, err := readFeed(o.feed)
		if err != nil {
			return nil, err
		}
		return csvcheck.New(csvcheck.DefaultConfig(), blobs, feeds{feed}, logger)
	}
}

// readSecret returns the first line of file.
func readSecret(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	s, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSuffix(s, "\r"), nil
}

// readKeys reads an armored private key file and unlocks its keys.
func readKeys(file, passFile string) (keyring, error) {
	f, err := os.Open(file)
	if err != nil {
		return keyring{}, fmt.Errorf("read key: %w", err)
	}
	defer f.Close()
	list, err := openpgp.ReadArmoredKeyRing(f)
	if err != nil {
		return keyring{}, fmt.Errorf("read key %q: %w", file, err)
	}
	if passFile != "" {
		pass, err := readSecret(passFile)
		if err != nil {
			return keyring{}, err
		}
		for _, e := range list {
			if err := e.DecryptPrivateKeys([]byte(pass)); err != nil {
				return keyring{}, fmt.Errorf("unlock key %q: %w", file, err)
			}
		}
	}
	return keyring{list}, nil
}

// readFeed returns the feed in file (a feed PUT body), or the benchmark's
// own when file is "".
func readFeed(file string) (credentials.Feed, error) {
	feed := benchFeed()
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return feed, fmt.Errorf("read feed: %w", err)
		}
		feed = credentials.Feed{}
		if err := json.Unmarshal(b, &feed); err != nil {
			return feed, fmt.Errorf("read feed %q: %w", file, err)
		}
	}
	feed.Account, feed.Name = benchAccount, benchFeedN
	return feed, nil
}

// keyring is a decrypt.Keyring over one unlocked key list.
type keyring struct{ list openpgp.EntityList }

func (k keyring) DecryptionKeys(context.Context, string) (openpgp.EntityList, error) {
	return k.list, nil
}

func (keyring) VerificationKeys(context.Context, string) (openpgp.EntityList, error) {
	return nil, nil
}

// noSignature is a decrypt.Policy that requires no signature.
type noSignature struct{}

func (noSignature) RequireSignature(context.Context, string, string) (bool, error) {
	return false, nil
}

// passwords is an unzip.Passwords with fixed passwords.
type passwords []string

func (p passwords) Passwords(context.Context, string) ([]string, error) { return p, nil }

// noZipCrypto is an unzip.Policy refusing legacy ZipCrypto.
type noZipCrypto struct{}

func (noZipCrypto) AllowZipCrypto(context.Context, string, string) (bool, error) {
	return false, nil
}

// feeds is a csvcheck.Feeds knowing one feed.
type feeds struct{ feed credentials.Feed }

func (f feeds) Feed(_ context.Context, account, name string) (credentials.Feed, error) {
	if account != f.feed.Account || name != f.feed.Name {
		return credentials.Feed{}, fmt.Errorf("feed %s/%s: %w", account, name, credentials.ErrNotFound)
	}
	return f.feed, nil
}
