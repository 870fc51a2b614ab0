package unzip

import (
	"archive/zip"
	"bufio"
	"context"
	"crypto/cipher"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/klauspost/compress/flate"

	"github.com/sluicehq/sluice/pipeline"
)

// extract writes entry e of the archive ra to its blob and returns its
// Object, decrypting it with what unlock found.
func (s *Stage) extract(ctx context.Context, in pipeline.Object, ra io.ReaderAt, e entry, pool buffers) (pipeline.Object, error) {
	data := io.NewSectionReader(ra, e.offset, e.size)
	switch e.enc {
	case encAES:
		// Pass 2: decrypt, inflate, check and write.
		stream, err := newWinzipCTR(e.aesKey)
		if err != nil {
			return pipeline.Object{}, err
		}
		head := int64(e.aes.saltLen() + aesVerifierLen)
		body := io.NewSectionReader(data, head, e.size-e.aes.overhead())
		return s.write(ctx, in, e, body, stream, e.aes.version == 1, pool)

	case encZipCrypto:
		body := io.NewSectionReader(data, zipCryptoHeaderLen, e.size-zipCryptoHeaderLen)
		var err error
		for _, z := range e.zipCrypto {
			// A wrong password passes the check byte once in 256 times:
			// the CRC-32 or the inflater catch it, then try the next.
			var out pipeline.Object
			if out, err = s.write(ctx, in, e, body, z, true, pool); err == nil || !isBadInput(err) {
				return out, err
			}
		}
		if errors.Is(err, ErrCorruptEntry) {
			// Every password that passed the check byte fails on the
			// data. A wrong password passes that one-byte check once in
			// 256 times, far more often than the right one meets a
			// damaged entry: say so rather than blame the data alone.
			return pipeline.Object{}, fmt.Errorf("entry %s: %w (or the entry is damaged)", quote(e.name), ErrWrongPassword)
		}
		return pipeline.Object{}, err

	default:
		return s.write(ctx, in, e, data, nil, true, pool)
	}
}

// write decrypts (when stream is not nil) and decompresses body, the data
// of entry e, into the entry's blob, bounding its expansion, and commits it
// once its size and, when checkCRC, its CRC-32 match the central directory.
func (s *Stage) write(ctx context.Context, in pipeline.Object, e entry, body *io.SectionReader, stream cipher.Stream, checkCRC bool, pool buffers) (pipeline.Object, error) {
	consumed := &countingReader{r: io.NewSectionReader(body, 0, body.Size())}
	var r io.Reader = consumed
	if stream != nil {
		r = cipher.StreamReader{S: stream, R: r}
	}
	if e.method == zip.Deflate {
		fr := flate.NewReader(bufio.NewReaderSize(r, 64<<10)) // flate reads bytes: buffer them
		defer fr.Close()
		r = fr
	}

	id := pipeline.ChildID(in.ID, stageName, e.name)
	key := in.UploadID + "/" + id
	w, err := s.blobs.Create(ctx, key)
	if err != nil {
		return pipeline.Object{}, fmt.Errorf("create blob for entry %s: %w", quote(e.name), err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = w.Abort()
		}
	}()

	sk := newSink(w, pool)
	defer sk.stop()
	n, err := s.pump(ctx, e, r, consumed, sk)
	if werr := sk.stop(); werr != nil {
		return pipeline.Object{}, fmt.Errorf("write blob for entry %s: %w", quote(e.name), werr)
	}
	if err != nil {
		return pipeline.Object{}, err
	}
	declared := e.f.UncompressedSize64
	if n != declared {
		return pipeline.Object{}, fmt.Errorf("entry %s is %d bytes, its header declares %d: %w", quote(e.name), n, declared, ErrCorruptEntry)
	}
	if checkCRC && sk.crc.Sum32() != e.f.CRC32 {
		return pipeline.Object{}, fmt.Errorf("entry %s: its CRC-32 does not match: %w", quote(e.name), ErrCorruptEntry)
	}
	if err := w.Commit(); err != nil {
		return pipeline.Object{}, fmt.Errorf("commit blob for entry %s: %w", quote(e.name), err)
	}
	committed = true
	return pipeline.Object{
		ID:        id,
		UploadID:  in.UploadID,
		ParentID:  in.ID,
		Account:   in.Account,
		Feed:      in.Feed,
		Name:      e.name,
		Key:       key,
		Size:      int64(n),
		SHA256:    hex.EncodeToString(sk.sum.Sum(nil)),
		Chain:     append(slices.Clone(in.Chain), stageName),
		Encrypted: in.Encrypted || e.enc != encNone,
		Signer:    in.Signer,
	}, nil
}

// pump reads the plaintext of e from r into the sink, bounding it by the
// entry's declared size and its expansion against the compressed bytes
// consumed so far, and returns its size.
func (s *Stage) pump(ctx context.Context, e entry, r io.Reader, consumed *countingReader, sk *sink) (uint64, error) {
	declared, ratio := e.f.UncompressedSize64, uint64(s.cfg.MaxRatio)
	var n uint64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if err := sk.failed(); err != nil {
			return n, nil // stop reports it
		}
		b := sk.buffer()
		m, rerr := fill(r, b)
		n += uint64(m)
		switch {
		case n > declared:
			sk.release(b)
			return n, fmt.Errorf("entry %s expands beyond the %d bytes its header declares: %w", quote(e.name), declared, ErrCorruptEntry)
		case n > MinRatioBytes && n/ratio > consumed.n:
			sk.release(b)
			return n, fmt.Errorf("entry %s expanded to %d bytes from %d compressed, more than %d:1: %w", quote(e.name), n, consumed.n, ratio, ErrRatio)
		case m > 0:
			sk.put(b[:m])
		default:
			sk.release(b)
		}
		switch {
		case rerr == io.EOF:
			return n, nil
		case rerr == nil:
		case isIOError(rerr):
			return n, rerr
		default:
			return n, fmt.Errorf("entry %s: %s: %w", quote(e.name), describe(rerr), ErrCorruptEntry)
		}
	}
}

// fill reads from r until b is full or r fails; io.EOF included.
func fill(r io.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// describe says what went wrong while decompressing, for the customer.
func describe(err error) string {
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "its compressed data ends early"
	case errors.As(err, &corrupt):
		return fmt.Sprintf("its deflate stream is invalid at byte %d", int64(corrupt))
	}
	return err.Error()
}

// countingReader counts the bytes read through it: the compressed bytes an
// entry consumed so far, against which its expansion is measured.
type countingReader struct {
	r io.Reader
	n uint64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += uint64(n)
	return n, err
}
