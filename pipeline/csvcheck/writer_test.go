package csvcheck

import (
	"bytes"
	"encoding/csv"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// csvWriterOutput is what encoding/csv's Writer (UseCRLF false) writes.
func csvWriterOutput(t testing.TB, fields [][]byte) string {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	rec := make([]string, len(fields))
	for i, f := range fields {
		rec[i] = string(f)
	}
	require.NoError(t, w.Write(rec))
	w.Flush()
	require.NoError(t, w.Error())
	return b.String()
}

func ourOutput(t testing.TB, fields [][]byte, plain []byte, delim byte) string {
	t.Helper()
	var b bytes.Buffer
	w := newCSVWriter(&b)
	if plain != nil {
		require.NoError(t, w.writePlain(plain, fields, delim))
	} else {
		require.NoError(t, w.write(fields))
	}
	require.NoError(t, w.flush())
	return b.String()
}

func TestWriterMatchesEncodingCSV(t *testing.T) {
	for _, rec := range [][]string{
		{"a", "b"},
		{"a,b", `c"d`, "e\nf", "g\rh"},
		{" lead", "\ttab", "\u00a0nbsp", "\u0085nel", "trail "},
		{`\.`, `\.x`, ""},
		{"", ""},
		{"ü", "€", "\u2003em space"},
	} {
		fields := toBytes(rec)
		require.Equal(t, csvWriterOutput(t, fields), ourOutput(t, fields, nil, ','), "%q", rec)
	}
	// One empty field: encoding/csv writes an empty line, which readers
	// skip; we keep the row.
	require.Equal(t, "\"\"\n", ourOutput(t, [][]byte{{}}, nil, ','))
}

func TestWritePlain(t *testing.T) {
	tests := []struct {
		raw   string
		delim byte
	}{
		{"a,b,c", ','},
		{"a;b,c;d", ';'},
		{"a;b;c", ';'},
		{" a,b", ','},
		{"a\rb,c", ','},
		{`\.,x`, ','},
		{"\u00a0a|b", '|'},
		{"x\t,y", '\t'},
	}
	for _, tc := range tests {
		s := newScanner(bytes.NewReader([]byte(tc.raw+"\n")), 1<<10)
		s.delim = tc.delim
		ok, err := s.next()
		require.NoError(t, err)
		require.True(t, ok)
		require.True(t, s.plain)
		require.Equal(t, csvWriterOutput(t, s.fields), ourOutput(t, s.fields, s.raw, tc.delim), "%q", tc.raw)
	}
}

func TestUniqueSet(t *testing.T) {
	u := newUniqueSet(5)
	for i := int64(1); i <= 1000; i++ {
		dup, full := u.addInt(i)
		require.False(t, dup || full)
	}
	require.Equal(t, 1, u.len(), "ascending keys are one run")
	for _, v := range []int64{1, 500, 1000} {
		require.True(t, u.hasInt(v))
		dup, _ := u.addInt(v)
		require.True(t, dup)
	}
	for _, v := range []int64{2000, 1500, math.MaxInt64, -5} { // a run, a gap, a run, a gap
		dup, full := u.addInt(v)
		require.False(t, dup || full, "%d", v)
	}
	require.Equal(t, 5, u.len())
	_, full := u.addInt(-6)
	require.True(t, full)
	dup, full := u.addInt(1500)
	require.True(t, dup)
	require.False(t, full)
	dup, full = u.addInt(math.MaxInt64)
	require.True(t, dup)
	require.False(t, full)

	s := newUniqueSet(2)
	for _, v := range []string{"a", "b"} {
		dup, full := s.addBytes([]byte(v))
		require.False(t, dup || full)
	}
	dup, _ = s.addBytes([]byte("a"))
	require.True(t, dup)
	require.True(t, s.hasBytes([]byte("b")))
	_, full = s.addBytes([]byte("c"))
	require.True(t, full)
}

// TestUniqueMemory checks that unique ascending integer keys cost no
// memory per row, and measures text keys.
func TestUniqueMemory(t *testing.T) {
	const n = 200_000
	u := newUniqueSet(n)
	mem := measureAlloc(func() {
		for i := int64(0); i < n; i++ {
			u.addInt(i * 1)
		}
	})
	require.Less(t, mem, uint64(1<<10))
	s := newUniqueSet(n)
	var key [8]byte
	mem = measureAlloc(func() {
		for i := range n {
			key[0], key[1], key[2] = byte(i), byte(i>>8), byte(i>>16)
			s.addBytes(key[:])
		}
	})
	t.Logf("%d text keys: %.1f bytes allocated per key", n, float64(mem)/n)
	require.Less(t, mem, uint64(n*80))
}
