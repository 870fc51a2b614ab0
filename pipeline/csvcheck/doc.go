// Package csvcheck is the pipeline's last stage: it validates a CSV file
// against its feed's schema and policy (DESIGN.md, Feeds) and writes the
// accepted rows as normalised CSV, streaming, in memory bounded by its
// Config whatever the size of the file.
//
// What it checks, in order:
//
//   - The feed: an upload outside every feed's folder (Object.Feed "") is
//     rejected with "no feed is configured for this folder"; a feed deleted
//     since the upload, or whose require_encryption or require_signature the
//     file misses, rejects it too. csvcheck is the one stage every CSV goes
//     through, so these requirements hold for plain uploads as well.
//   - The encoding: UTF-8, a byte order mark stripped, or the feed's
//     single-byte encoding (windows-1252, latin-1) transcoded with
//     golang.org/x/text. A UTF-8 BOM means UTF-8 whatever the feed says. NUL
//     bytes in the first 8 KiB, UTF-16, a ZIP archive or an OpenPGP message
//     make the file "binary file, not CSV text"; later NUL bytes and invalid
//     UTF-8 are errors of the row where they are.
//   - The structure (RFC 4180): the delimiter detected among , ; TAB | from
//     the first lines unless the feed fixes it; quoted fields with doubled
//     quotes and line breaks; CRLF or LF; a consistent number of fields
//     (ragged rows are row errors); empty lines skipped. A record longer
//     than max_line_bytes rejects the file at once, and the scanner stops
//     reading there: a 100 MiB line costs about 1 MiB of memory and of
//     reading. A field longer than max_field_bytes is a row error. A file
//     ending inside quotes is rejected (an unterminated quote).
//   - The header: names matched ignoring case and surrounding spaces;
//     missing required columns and, unless allow_extra_columns, unknown
//     columns reject the file; absent optional columns are warnings. The
//     output's header spells names as the schema does.
//   - The values: required means not blank (spaces only is blank); blank
//     optional values are not checked further. integer (optional sign,
//     digits, 64 bits), decimal (optional sign, digits, optional "."
//     fraction: no exponent, no thousands separators, no decimal comma),
//     date and datetime (the Go layout of Column.Format; time.Parse decides,
//     a fast path checks common numeric layouts without allocating),
//     boolean (true/false/yes/no/1/0, any case), email (what
//     net/mail.ParseAddress takes as a bare address: no display name, no
//     angle brackets; a dotted domain), enum (exact match), regex (the
//     pattern anchored at both ends, ^(?:pattern)$, compiled once),
//     max_length (characters). unique compares integers as numbers and
//     text as bytes, only among otherwise valid rows, so that accepted rows
//     never repeat a value; blank values are not compared. It holds 16-byte
//     hashes, at most max_unique_values per column (beyond that the file is
//     rejected with a clear reason; 32 MiB per million), and ascending
//     integer keys as runs that cost nothing.
//   - Formula-like cells: a value of a string column or an extra column
//     starting with =, +, -, @ is counted as a warning, never an error, and
//     never changed. A value that is a plain number ("-5") is not
//     formula-like, and numeric, date, enum and regex columns are checked by
//     their type instead.
//
// Problems carry the physical line where their record starts (the header is
// line 1), the column name, a value excerpt of at most 60 characters and a
// message. At most max_errors errors and max_warnings warnings are gathered;
// under on_error reject_file reading stops after max_errors. Policy:
// reject_file rejects the file for any row error; skip_rows drops the rows
// in error unless their share of the data rows is above max_error_rate.
//
// csvcheck imports pipeline (Object, Result, Blobs) and credentials (Feed);
// it never imports NATS, the store, or the other stages.
package csvcheck
