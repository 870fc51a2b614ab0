// Package unzip is the pipeline stage that extracts the files of a ZIP
// archive, each entry becoming one pipeline.Object of its own.
//
// The standard library's archive/zip parses the archive; entries are read
// raw (File.DataOffset and the entry's compressed size on the archive's
// io.ReaderAt) and go through this package's own readers: WinZip AES (AE-1
// and AE-2, 128, 192 and 256 bits) and, when a feed allows it, legacy
// ZipCrypto; then store or deflate. An AES entry is read twice: the first
// pass checks its HMAC-SHA1-80 over the whole ciphertext, and only then does
// the second pass decrypt and inflate it, so tampered plaintext never
// reaches a blob. Every output is written to an uncommitted blob and
// committed only after its size and CRC-32 are checked.
//
// Before anything is written the whole archive is vetted: the entry count
// (counted in the central directory before archive/zip reads it, so that a
// huge directory cannot exhaust memory), entry names (zip-slip in every form:
// absolute paths, "..", backslashes, control characters, duplicates once
// cleaned and case-folded), symbolic links and other special files,
// compression methods other than store and deflate, overlapping entries (the
// overlapping-entries zip bomb), declared sizes and ratios, and the
// encryption in use. Expansion is measured again while inflating, against
// the compressed bytes consumed so far, so that a bomb whose header lies is
// refused after a few megabytes.
//
// Nesting: the stage emits the entries of an archive as they are, a ZIP
// inside a ZIP included; the runner sniffs each output and routes it again.
// Process refuses an input whose chain already holds Config.MaxNesting "zip"
// steps, so with the default of 1 an archive inside an archive is rejected.
// The overall chain depth is the runner's to bound.
//
// unzip must not import NATS, the store or the other stages; it imports the
// standard library, pipeline, golang.org/x/crypto/pbkdf2,
// golang.org/x/text (names in code page 437) and
// github.com/klauspost/compress/flate.
package unzip
