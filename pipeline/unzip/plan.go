package unzip

import (
	"archive/zip"
	"cmp"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// encryption is how an entry is encrypted.
type encryption int

const (
	encNone encryption = iota
	encAES
	encZipCrypto
)

// entry is one file of the archive to extract, vetted.
type entry struct {
	f      *zip.File
	name   string // cleaned
	method uint16 // compression method of the plaintext: store or deflate
	enc    encryption
	aes    aesParams // when enc is encAES
	offset int64     // of the entry's data (after its local header)
	size   int64     // of the entry's data as stored

	aesKey    []byte       // set by unlock for encAES
	zipCrypto []*zipCrypto // set by unlock for encZipCrypto: the states of the passwords that pass the check byte
}

// plan vets every entry of the archive before anything is extracted, and
// returns those to extract in central directory order. size is the
// archive's.
func (s *Stage) plan(r *zip.Reader, size int64) ([]entry, error) {
	var (
		entries []entry
		seen    = make(map[string]string) // folded name: name as stored
		total   uint64
	)
	for _, f := range r.File {
		name, err := cleanName(f)
		if err != nil {
			return nil, err
		}
		mode := f.Mode()
		switch {
		case mode&fs.ModeSymlink != 0:
			return nil, fmt.Errorf("entry %s: %w", quote(name), ErrSymlink)
		case mode&(fs.ModeDevice|fs.ModeCharDevice|fs.ModeNamedPipe|fs.ModeSocket|fs.ModeIrregular) != 0:
			return nil, fmt.Errorf("entry %s is a %s: %w", quote(name), kindOf(mode), ErrSpecialFile)
		case strings.HasSuffix(f.Name, "/") || mode.IsDir() || ignored(name):
			continue
		}
		key := foldName(name)
		if other, ok := seen[key]; ok {
			return nil, fmt.Errorf("entries %s and %s: %w", quote(other), quote(f.Name), ErrDuplicateName)
		}
		seen[key] = f.Name

		e := entry{f: f, name: name, method: f.Method}
		if err := e.setEncryption(); err != nil {
			return nil, fmt.Errorf("entry %s: %w", quote(name), err)
		}
		if e.method != zip.Store && e.method != zip.Deflate {
			return nil, fmt.Errorf("entry %s uses method %d (%s): %w", quote(name), e.method, methodName(e.method), ErrMethod)
		}
		if e.offset, err = f.DataOffset(); err != nil {
			if isIOError(err) {
				return nil, err
			}
			return nil, fmt.Errorf("entry %s: its local header is unreadable: %w", quote(name), ErrCorruptDirectory)
		}
		if f.CompressedSize64 > uint64(size) || e.offset > size-int64(f.CompressedSize64) {
			return nil, fmt.Errorf("entry %s runs past the end of the archive: %w", quote(name), ErrCorruptDirectory)
		}
		e.size = int64(f.CompressedSize64)
		if uint64(e.size) < e.overhead() {
			return nil, fmt.Errorf("entry %s is too short for its encryption: %w", quote(name), ErrCorruptEntry)
		}
		if e.method == zip.Store && f.UncompressedSize64 != f.CompressedSize64-e.overhead() {
			return nil, fmt.Errorf("entry %s is stored but its sizes differ: %w", quote(name), ErrCorruptDirectory)
		}

		if total += f.UncompressedSize64; total > uint64(s.cfg.MaxTotalBytes) || total < f.UncompressedSize64 {
			return nil, fmt.Errorf("its entries declare more than %d bytes in all: %w", s.cfg.MaxTotalBytes, ErrTooLarge)
		}
		if f.UncompressedSize64 > MinRatioBytes && f.UncompressedSize64/uint64(s.cfg.MaxRatio) > f.CompressedSize64 {
			return nil, fmt.Errorf("entry %s declares %d bytes from %d compressed, more than %d:1: %w",
				quote(name), f.UncompressedSize64, f.CompressedSize64, s.cfg.MaxRatio, ErrRatio)
		}
		entries = append(entries, e)
	}
	if len(entries) == 0 {
		return nil, ErrEmpty
	}
	if err := checkOverlap(entries); err != nil {
		return nil, err
	}
	return entries, nil
}

// setEncryption reads how e is encrypted and the method of its plaintext.
func (e *entry) setEncryption() error {
	f := e.f
	switch {
	case f.Flags&(flagStrong|flagMaskedHeaders) != 0:
		return fmt.Errorf("PKWARE strong encryption: %w", ErrUnsupportedEncryption)
	case f.Method == methodAES:
		if f.Flags&flagEncrypted == 0 {
			return fmt.Errorf("method 99 without the encryption flag: %w", ErrCorruptDirectory)
		}
		p, err := parseAESExtra(f.Extra)
		if err != nil {
			return err
		}
		e.enc, e.aes, e.method = encAES, p, p.method
	case f.Flags&flagEncrypted != 0:
		e.enc = encZipCrypto
	}
	return nil
}

// overhead is what the encryption of e adds to its data.
func (e *entry) overhead() uint64 {
	switch e.enc {
	case encAES:
		return uint64(e.aes.overhead())
	case encZipCrypto:
		return zipCryptoHeaderLen
	}
	return 0
}

// checkOverlap refuses entries whose data share bytes of the archive: the
// overlapping-entries zip bomb points many central directory entries at one
// local header, or quotes each entry's header inside the data of the one
// before, to expand far beyond any per-entry ratio.
func checkOverlap(entries []entry) error {
	sorted := slices.Clone(entries)
	slices.SortFunc(sorted, func(a, b entry) int { return cmp.Compare(a.offset, b.offset) })
	for i := 1; i < len(sorted); i++ {
		prev, cur := sorted[i-1], sorted[i]
		if cur.offset < prev.offset+prev.size || cur.offset == prev.offset {
			return fmt.Errorf("entries %s and %s: %w", quote(prev.name), quote(cur.name), ErrOverlap)
		}
	}
	return nil
}

// kindOf names a special file type.
func kindOf(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&(fs.ModeDevice|fs.ModeCharDevice) != 0:
		return "device"
	}
	return "special file"
}

// methodName names the compression methods found in the wild.
func methodName(m uint16) string {
	switch m {
	case 1, 2, 3, 4, 5:
		return "shrink/reduce"
	case 6:
		return "implode"
	case 9:
		return "deflate64"
	case 12:
		return "bzip2"
	case 14:
		return "LZMA"
	case 93:
		return "zstd"
	case 95:
		return "xz"
	case 96:
		return "JPEG"
	case 97:
		return "WavPack"
	case 98:
		return "PPMd"
	case methodAES:
		return "WinZip AES inside AES"
	}
	return "unknown"
}

// classifyOpen tells archive/zip's refusal of the archive, a corrupt
// central directory for the customer, from a failure to read the blob.
func classifyOpen(err error) error {
	if isIOError(err) {
		return err
	}
	return fmt.Errorf("%v: %w", err, ErrCorruptDirectory)
}
