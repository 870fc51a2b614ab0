package csvcheck

import (
	"encoding/csv"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/pipeline"
)

// csvOf returns a header and rows "i,name i" for i in [1, rows], with line
// bad (counting the header as line 1) replaced by bad.
func csvOf(rows int, badLine int, bad string) string {
	var b strings.Builder
	b.WriteString("id,name\n")
	for i := 1; i <= rows; i++ {
		if i+1 == badLine {
			b.WriteString(bad + "\n")
			continue
		}
		b.WriteString(strconv.Itoa(i) + ",name " + strconv.Itoa(i) + "\n")
	}
	return b.String()
}

// problemsCSV reads an errors report.
func problemsCSV(t *testing.T, report string) [][]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(report)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"line", "column", "value", "message"}, recs[0])
	return recs[1:]
}

// TestProcessInvalidUTF8Line: invalid UTF-8 at line N, in the first block
// the stage sniffs or far beyond it, rejects the file (reject_file) with an
// error that names line N and the column, in the Result and in the errors
// report the customer downloads.
func TestProcessInvalidUTF8Line(t *testing.T) {
	for _, tc := range []struct {
		name string
		rows int
		line int
	}{
		{"line 4", 10, 4},
		{"line 100000", 120_000, 100_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, blobs, dir := newStage(t, DefaultConfig(), simpleFeed())
			put(t, blobs, "up1/in", strings.NewReader(csvOf(tc.rows, tc.line, strconv.Itoa(tc.line-1)+",M\xfcller")))
			in := input("up1/in")
			in.Feed = "simple"
			outs, err := s.Process(t.Context(), in)
			require.NoError(t, err)
			res := outs[0].Result
			require.False(t, res.Accepted)
			require.Equal(t, "1 of "+strconv.Itoa(tc.rows)+" data rows have errors; the feed rejects a file with any error (on_error: reject_file)", res.Reason)
			require.Equal(t, int64(1), res.Rejected)
			require.Len(t, res.Problems, 1)
			p := res.Problems[0]
			require.Equal(t, int64(tc.line), p.Line)
			require.Equal(t, "name", p.Column)
			require.Equal(t, "M\ufffdller", p.Value, "the excerpt is valid UTF-8")
			require.Contains(t, p.Message, "invalid UTF-8")

			recs := problemsCSV(t, get(t, blobs, res.ProblemsKey))
			require.Len(t, recs, 1)
			require.Equal(t, []string{strconv.Itoa(tc.line), "name", "M\ufffdller"}, recs[0][:3])
			require.Contains(t, recs[0][3], "invalid UTF-8")
			requireNoTemporaryFiles(t, dir)
		})
	}

	// The Validator's report classifies it too.
	rep, _ := validate(t, DefaultConfig(), simpleFeed(), csvOf(120_000, 100_000, "99999,M\xfcller"))
	require.ErrorIs(t, rep.Err, ErrRowErrors)
	bad := problemsOf(rep, ErrInvalidUTF8)
	require.Len(t, bad, 1)
	require.Equal(t, int64(100_000), bad[0].Line)
}

// TestProcessFormulaWarnings: cells that start like a spreadsheet formula
// (=, +, -, @) in text columns are counted as warnings in the Result, listed
// in the errors report with a defusing quote, and do not reject the file,
// whose rows are passed on unchanged; a negative number in a numeric column
// is no warning.
func TestProcessFormulaWarnings(t *testing.T) {
	feed := simpleFeed()
	s, blobs, dir := newStage(t, DefaultConfig(), feed)
	const content = "id,name\n1,=SUM(A1:A9)\n2,+cmd\n3,-x\n4,@here\n-5,plain\n6,a=b\n"
	put(t, blobs, "up1/in", strings.NewReader(content))
	in := input("up1/in")
	in.Feed = feed.Name
	outs, err := s.Process(t.Context(), in)
	require.NoError(t, err)
	out := outs[0]
	res := out.Result
	require.True(t, res.Accepted, res.Reason)
	require.Equal(t, int64(6), res.Rows)
	require.Equal(t, int64(4), res.Warnings)
	require.Equal(t, int64(4), res.ProblemsN)
	msg := "starts like a spreadsheet formula (=, +, -, @): a spreadsheet opening the file may run it"
	require.Equal(t, []pipeline.Problem{
		{Line: 2, Column: "name", Value: "=SUM(A1:A9)", Message: msg, Warning: true},
		{Line: 3, Column: "name", Value: "+cmd", Message: msg, Warning: true},
		{Line: 4, Column: "name", Value: "-x", Message: msg, Warning: true},
		{Line: 5, Column: "name", Value: "@here", Message: msg, Warning: true},
	}, res.Problems)
	require.Equal(t, "line,column,value,message\n"+
		"2,name,'=SUM(A1:A9),\"warning: "+msg+"\"\n"+
		"3,name,'+cmd,\"warning: "+msg+"\"\n"+
		"4,name,'-x,\"warning: "+msg+"\"\n"+
		"5,name,'@here,\"warning: "+msg+"\"\n", get(t, blobs, res.ProblemsKey))
	require.Equal(t, content, get(t, blobs, out.Key), "the rows are passed on as they are")
	requireNoTemporaryFiles(t, dir)

	// The Validator's report wraps ErrFormula in each warning.
	rep, _ := validate(t, DefaultConfig(), feed, content)
	for _, p := range rep.Problems {
		require.True(t, errors.Is(p.Err, ErrFormula), "%+v", p)
	}
}
