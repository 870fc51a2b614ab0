package decrypt

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zlib"

	"github.com/sluicehq/sluice/pipeline"
)

// Buffer sizes: reads of the blob, of the decrypted data, and the copy of
// the content. With the CFB reader's and the inflater's they make up the
// stage's fixed memory per message.
const (
	inputBuffer = 256 << 10
	dataBuffer  = 64 << 10
	copyBuffer  = 256 << 10
)

// message is the state of one Process call: one OpenPGP message being read.
type message struct {
	stage  *Stage
	in     pipeline.Object
	src    *source
	armor  *recorder     // the armored body; nil for binary input
	dec    io.ReadCloser // the decrypted data; nil for an unencrypted message
	ahead  *prefetch     // reads dec ahead
	key    *openpgp.Key  // the key that decrypted the session key
	inflow io.Reader     // the body of the leading compressed packet; nil when none
	lim    limits
}

func newMessage(s *Stage, in pipeline.Object, r io.Reader) *message {
	m := &message{stage: s, in: in, src: &source{r: r}}
	m.lim = limits{maxOutput: s.cfg.MaxOutputBytes, ratio: s.cfg.MaxExpansionRatio, src: m.src}
	return m
}

// read decrypts and verifies the message and writes its content.
func (m *message) read(ctx context.Context, required bool, verify openpgp.EntityList) (pipeline.Object, error) {
	pr, err := m.packets()
	if err != nil {
		return pipeline.Object{}, m.fail(err)
	}
	tag, err := firstTag(pr)
	if err != nil {
		return pipeline.Object{}, m.fail(err)
	}
	msg := pr
	switch tag {
	case tagPKESK, tagSKESK, tagSED, tagSEIPD, tagAEAD:
		k, err := readKeyPackets(pr)
		if err != nil {
			return pipeline.Object{}, m.fail(err)
		}
		keys, err := m.stage.decryptionKeys(ctx, m.in.Account)
		if err != nil {
			return pipeline.Object{}, err
		}
		dec, key, err := k.open(keys)
		if err != nil {
			return pipeline.Object{}, m.fail(err)
		}
		m.ahead = newPrefetch(dec)
		defer m.ahead.stop()
		m.dec, m.key = &closeOnce{rc: m.ahead}, key
		msg = bufio.NewReaderSize(m.dec, dataBuffer)
	case tagSignature, tagOPS, tagCompressed, tagLiteral: // signed or plain, not encrypted
	default:
		return pipeline.Object{}, m.fail(reject(ErrNotOpenPGP, "the file starts with a %s packet, not with an OpenPGP message", tagName(tag)))
	}

	md, err := m.readContent(msg, verify)
	if err != nil {
		return pipeline.Object{}, m.fail(err)
	}
	id := pipeline.ChildID(m.in.ID, Name, outputEntry)
	key := m.in.UploadID + "/" + id
	w, err := m.stage.blobs.Create(ctx, key)
	if err != nil {
		return pipeline.Object{}, fmt.Errorf("create blob %q: %w", key, err)
	}
	h := sha256.New()
	err, werr := copyContent(w, h, md.UnverifiedBody, &m.lim)
	if err == nil {
		err = m.finish(msg, pr)
	}
	var signer string
	if err == nil {
		signer, err = m.signer(ctx, md, required)
	}
	if err != nil || werr != nil {
		_ = w.Abort()
		if werr != nil {
			return pipeline.Object{}, fmt.Errorf("write blob %q: %w", key, werr)
		}
		return pipeline.Object{}, m.fail(err)
	}
	if err := w.Commit(); err != nil {
		return pipeline.Object{}, err
	}
	res := pipeline.Object{
		ID:        id,
		UploadID:  m.in.UploadID,
		ParentID:  m.in.ID,
		Account:   m.in.Account,
		Feed:      m.in.Feed,
		Name:      outputName(md.LiteralData, m.in.Name),
		Key:       key,
		Size:      m.lim.written,
		SHA256:    hex.EncodeToString(h.Sum(nil)),
		Chain:     append(slices.Clone(m.in.Chain), Name),
		Encrypted: m.in.Encrypted || m.dec != nil,
		Signer:    m.in.Signer,
	}
	if signer != "" {
		res.Signer = signer
	}
	return res, nil
}

// packets returns the reader of the message's packets: the blob itself, or
// the body of its ASCII armor.
func (m *message) packets() (*bufio.Reader, error) {
	br := bufio.NewReaderSize(m.src, inputBuffer)
	head, err := br.Peek(pipeline.SniffLen)
	if len(head) == 0 {
		if err == io.EOF {
			return nil, reject(ErrNotOpenPGP, "the file is empty")
		}
		return nil, err
	}
	if _, ok := headerTag(head[0]); ok {
		return br, nil
	}
	if !bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n"), []byte("-----BEGIN ")) {
		return nil, reject(ErrNotOpenPGP, "the file is neither a binary OpenPGP message nor an ASCII-armored one (-----BEGIN PGP MESSAGE-----)")
	}
	capped := &capReader{r: br, left: maxArmorHeader}
	block, err := armor.Decode(capped)
	switch {
	case capped.exceeded:
		return nil, reject(ErrNotOpenPGP, "the ASCII armor's header is longer than %d KiB", maxArmorHeader>>10)
	case err == io.EOF:
		return nil, reject(ErrNotOpenPGP, "the ASCII armor has no complete -----BEGIN line")
	case err != nil && m.src.err == nil:
		return nil, reject(ErrNotOpenPGP, "the ASCII armor is corrupt: %s", pgpText(err))
	case err != nil:
		return nil, err
	case block.Type != openpgp.MessageType:
		return nil, reject(ErrNotOpenPGP, "the file holds an ASCII-armored %q, not an OpenPGP message (%q)", block.Type, openpgp.MessageType)
	}
	capped.left = 1<<63 - 1
	m.armor = &recorder{r: block.Body}
	return bufio.NewReaderSize(m.armor, dataBuffer), nil
}

// firstTag returns the tag of the first packet after any marker, padding or
// unknown non-critical packets, which it skips.
func firstTag(r *bufio.Reader) (byte, error) {
	for range maxSkippedPackets {
		head, err := r.Peek(1)
		if err == io.EOF {
			return 0, reject(ErrNotOpenPGP, "the file holds no OpenPGP packet")
		}
		if err != nil {
			return 0, err
		}
		tag, ok := headerTag(head[0])
		if !ok {
			return 0, reject(ErrNotOpenPGP, "the file does not start with an OpenPGP packet")
		}
		if tag != tagMarker && tag != tagPadding && tag < 40 {
			return tag, nil
		}
		// Skipped, as RFC 9580 says: markers, padding and packets of
		// unknown non-critical types.
		var unknown pgperrors.UnknownPacketTypeError
		if _, err := packet.Read(r); err != nil && !errors.As(err, &unknown) {
			return 0, err
		}
	}
	return 0, reject(ErrMalformed, "more than %d marker or padding packets", maxSkippedPackets)
}

// readContent starts reading the (decrypted) message in msg: it inflates a
// leading compressed packet itself and lets go-crypto read the packets
// inside up to the literal data.
func (m *message) readContent(msg *bufio.Reader, verify openpgp.EntityList) (*openpgp.MessageDetails, error) {
	head, err := msg.Peek(1)
	if err == io.EOF {
		return nil, reject(ErrMalformed, "the message holds no data")
	}
	if err != nil {
		return nil, err
	}
	var content io.Reader = msg
	if tag, _ := headerTag(head[0]); tag == tagCompressed {
		_, body, err := readPacketHeader(msg)
		if err != nil {
			return nil, err
		}
		r, err := decompressor(body, m.dec != nil)
		if err != nil {
			return nil, err
		}
		m.inflow = body
		content = &inflater{r: r, l: &m.lim}
	}
	if verify == nil {
		verify = openpgp.EntityList{}
	}
	m.lim.preamble = true
	md, err := openpgp.ReadMessage(&gate{r: content, l: &m.lim}, verify, nil, pgpConfig(m.dec != nil))
	m.lim.preamble = false
	return md, err
}

// decompressor returns the reader of a compressed packet's data. When the
// data was authenticated (by the MDC or the AEAD tags of the encrypted data
// around it), the checksum of a ZLIB stream is not checked: it adds nothing
// but time, about a tenth of the inflating.
func decompressor(body io.Reader, authenticated bool) (io.Reader, error) {
	var algo [1]byte
	if _, err := io.ReadFull(body, algo[:]); err != nil {
		return nil, io.ErrUnexpectedEOF
	}
	switch algo[0] {
	case 0:
		return body, nil
	case 1:
		return corruption{flate.NewReader(body)}, nil
	case 2:
		if authenticated {
			// RFC 1950: deflate, no preset dictionary, a header check; the
			// Adler-32 after the deflate data is left to finish to skip.
			var h [2]byte
			if _, err := io.ReadFull(body, h[:]); err != nil {
				return nil, io.ErrUnexpectedEOF
			}
			if h[0]&0x0f != 8 || h[1]&0x20 != 0 || (uint16(h[0])<<8|uint16(h[1]))%31 != 0 {
				return nil, reject(ErrMalformed, "the compressed data is corrupt: zlib: invalid header")
			}
			return corruption{flate.NewReader(body)}, nil
		}
		z, err := zlib.NewReader(body)
		if err != nil {
			return nil, reject(ErrMalformed, "the compressed data is corrupt: %v", err)
		}
		return corruption{z}, nil
	case 3:
		return corruption{bzip2.NewReader(body)}, nil
	}
	return nil, reject(ErrUnsupported, "compression algorithm %d", algo[0])
}

// corruption turns a decompressor's errors into ErrMalformed.
type corruption struct{ r io.Reader }

func (c corruption) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) {
		err = reject(ErrMalformed, "the compressed data is corrupt: %v", err)
	}
	return n, err
}

// finish checks the end of the message once its content was read: nothing
// after the compressed packet, the integrity check of the encrypted data,
// nothing but padding after it.
func (m *message) finish(msg, pr *bufio.Reader) error {
	if m.inflow != nil {
		// Whatever follows the compressed stream in its packet.
		if _, err := io.Copy(io.Discard, m.inflow); err != nil {
			return err
		}
	}
	if _, err := msg.ReadByte(); err != io.EOF {
		if err == nil {
			return reject(ErrMalformed, "packets after the end of the message")
		}
		return err
	}
	if m.dec == nil {
		return nil
	}
	if err := m.dec.Close(); err != nil {
		return err
	}
	for range maxSkippedPackets {
		head, err := pr.Peek(1)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if tag, _ := headerTag(head[0]); tag != tagMarker && tag != tagPadding {
			return reject(ErrMalformed, "a %s packet after the encrypted data", tagName(tag))
		}
		if _, err := packet.Read(pr); err != nil {
			return err
		}
	}
	return reject(ErrMalformed, "more than %d packets after the encrypted data", maxSkippedPackets)
}

// fail turns the error that stopped the message into the error to return.
// If the message was encrypted, it first drains the encrypted data to its
// end: when the integrity check fails, that is the error, whatever happened
// before, so that nothing is told about the structure of plaintext that was
// modified. Blob store failures and cancellation come before everything.
// m.dec is only set together with m.ahead.
func (m *message) fail(err error) error {
	var integrity error
	if m.dec != nil {
		if _, integrity = io.Copy(io.Discard, m.dec); integrity == nil {
			integrity = m.dec.Close()
		}
		m.ahead.stop() // before reading src.err and armor.err, which it wrote
	}
	switch {
	case m.src.err != nil:
		return fmt.Errorf("read blob %q: %w", m.in.Key, m.src.err)
	case m.src.cancelled.Load() != nil:
		return *m.src.cancelled.Load()
	case m.armor != nil && m.armor.err != nil:
		if errors.Is(m.armor.err, io.ErrUnexpectedEOF) {
			return truncated()
		}
		return reject(ErrNotOpenPGP, "the ASCII armor is corrupt: %s", pgpText(m.armor.err))
	case integrity != nil:
		if errors.Is(integrity, io.ErrUnexpectedEOF) || errors.Is(integrity, errMDCShort) {
			return truncated()
		}
		return modified()
	case m.lim.err != nil:
		return m.lim.err
	}
	return classify(err)
}

// classify maps an error of go-crypto (or of the packet readers) to the
// stage's errors. It is only called for data that passed its integrity
// check, or that was not encrypted.
func classify(err error) error {
	var in internal
	switch {
	case pipeline.IsPermanent(err):
		return err
	case errors.As(err, &in):
		return in.error
	}
	var (
		unsupported pgperrors.UnsupportedError
		critical    pgperrors.CriticalUnknownPacketTypeError
	)
	switch {
	case errors.Is(err, pgperrors.ErrMessageTooLarge):
		return reject(ErrUnsupported, "compressed data that is not the outermost packet of the message (nested compression)")
	case errors.Is(err, pgperrors.ErrKeyIncorrect):
		return reject(ErrUnsupported, "an encrypted message inside the encrypted message: encrypt the file once")
	case errors.As(err, &unsupported):
		return reject(ErrUnsupported, "%s", string(unsupported))
	case errors.As(err, &critical):
		return reject(ErrUnsupported, "unknown packet type %d", int(critical))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return truncated()
	}
	return reject(ErrMalformed, "%s", pgpText(err))
}

// pgpText is go-crypto's error text without its "openpgp: " prefix.
func pgpText(err error) string {
	s := err.Error()
	if len(s) > 9 && s[:9] == "openpgp: " {
		return s[9:]
	}
	return s
}

// closeOnce closes the decrypted data once and then repeats the outcome:
// go-crypto's SEIPD v1 reader hashes its trailer again on a second Close.
type closeOnce struct {
	rc     io.ReadCloser
	closed bool
	err    error
}

func (c *closeOnce) Read(p []byte) (int, error) { return c.rc.Read(p) }

func (c *closeOnce) Close() error {
	if !c.closed {
		c.closed, c.err = true, c.rc.Close()
	}
	return c.err
}

// internal marks a fault of Sluice's own, such as a locked key: classify
// passes it through, to be retried, instead of blaming the message.
type internal struct{ error }
