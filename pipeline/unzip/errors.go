package unzip

import "errors"

// The errors Process wraps, each marked pipeline.Permanent: bad input the
// customer must fix. The wrapping message names the entry and the detail;
// callers test with errors.Is. None of them ever holds a password.
var (
	// ErrTruncated: the archive ends early, its end-of-central-directory
	// record missing or an entry's data cut short.
	ErrTruncated = errors.New("the archive is truncated (was the upload cut off?)")
	// ErrCorruptDirectory: the central directory or a local header is
	// unreadable.
	ErrCorruptDirectory = errors.New("the archive's central directory is corrupt")
	// ErrCorruptEntry: an entry's compressed data is damaged, its size
	// differs from its header or its CRC-32 does not match.
	ErrCorruptEntry = errors.New("the entry's data is corrupt")
	// ErrTooManyEntries: the central directory holds more than
	// Config.MaxEntries entries.
	ErrTooManyEntries = errors.New("the archive has too many entries")
	// ErrTooLarge: the entries expand to more than Config.MaxTotalBytes.
	ErrTooLarge = errors.New("the archive expands to more bytes than allowed")
	// ErrRatio: an entry expands more than Config.MaxRatio times its
	// compressed size.
	ErrRatio = errors.New("the entry expands more than the allowed ratio (a zip bomb?)")
	// ErrUnsafeName: an entry name is absolute, climbs out with "..", holds
	// a backslash or a control character, is empty, too long or not text.
	ErrUnsafeName = errors.New("unsafe entry name")
	// ErrDuplicateName: two entries have the same name once cleaned and
	// case-folded.
	ErrDuplicateName = errors.New("two entries have the same name")
	// ErrSymlink: an entry is a symbolic link.
	ErrSymlink = errors.New("symbolic links are not accepted in archives")
	// ErrSpecialFile: an entry is a device, a named pipe or a socket.
	ErrSpecialFile = errors.New("special files are not accepted in archives")
	// ErrMethod: an entry is compressed with a method other than store and
	// deflate.
	ErrMethod = errors.New("unsupported compression method: only store and deflate are accepted, re-create the archive with deflate")
	// ErrOverlap: two entries share bytes of the archive (the
	// overlapping-entries zip bomb).
	ErrOverlap = errors.New("entries overlap in the archive (a zip bomb?)")
	// ErrNesting: the input already came out of Config.MaxNesting archives.
	ErrNesting = errors.New("archives nested deeper than allowed")
	// ErrZipCrypto: an entry uses legacy ZipCrypto and the feed does not
	// allow it.
	ErrZipCrypto = errors.New("the archive uses legacy ZipCrypto encryption, which is insecure: re-create it with AES-256 (7-Zip: 7z a -tzip -mem=AES256 -p archive.zip files)")
	// ErrUnsupportedEncryption: an entry uses an encryption other than
	// WinZip AES and ZipCrypto (PKWARE strong encryption, an unknown AES
	// version or key size).
	ErrUnsupportedEncryption = errors.New("unsupported encryption: use WinZip AES-256 (7-Zip: -mem=AES256)")
	// ErrNoPassword: an entry is encrypted and the account has no ZIP
	// password.
	ErrNoPassword = errors.New("the archive is encrypted and the account has no ZIP password: ask us to add one")
	// ErrWrongPassword: none of the account's ZIP passwords opens an entry.
	// For ZipCrypto, whose password check is a single byte, it also stands
	// for an entry whose data fails with every password that passed the
	// check: the message then adds that the entry may be damaged.
	ErrWrongPassword = errors.New("none of the account's ZIP passwords opens the entry")
	// ErrIntegrity: an AES entry's authentication code does not match its
	// data: the archive was altered or damaged.
	ErrIntegrity = errors.New("the entry failed its integrity check (tampered or damaged)")
	// ErrEmpty: the archive holds no file to extract.
	ErrEmpty = errors.New("the archive holds no files")
)
