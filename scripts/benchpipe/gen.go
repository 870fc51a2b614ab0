package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/credentials"
)

// benchFeed is DESIGN.md's example feed (id, email, amount, day, tier)
// plus five columns of other types: string, integer, boolean, datetime and
// regex.
func benchFeed() credentials.Feed {
	return credentials.Feed{
		Account: benchAccount, Name: benchFeedN, Path: "/orders", OnError: "reject_file",
		Schema: credentials.Schema{Delimiter: "auto", Encoding: "utf-8", Columns: []credentials.Column{
			{Name: "id", Type: "integer", Required: true, Unique: true},
			{Name: "email", Type: "email"},
			{Name: "amount", Type: "decimal"},
			{Name: "day", Type: "date", Format: "2006-01-02"},
			{Name: "tier", Type: "enum", Values: []string{"gold", "silver", "bronze"}},
			{Name: "name", Type: "string", MaxLen: 100},
			{Name: "qty", Type: "integer"},
			{Name: "active", Type: "boolean"},
			{Name: "created", Type: "datetime", Format: time.RFC3339},
			{Name: "code", Type: "regex", Pattern: `[A-Z]{3}-[0-9]{4}`},
		}},
	}
}

// feedBody is benchFeed as the body of PUT /api/v1/accounts/{a}/feeds/{f}.
type feedBody struct {
	Path    string             `json:"path"`
	OnError string             `json:"on_error"`
	Schema  credentials.Schema `json:"schema"`
}

// writeFeed writes benchFeed as a feed PUT body.
func writeFeed(w io.Writer) error {
	f := benchFeed()
	return json.NewEncoder(w).Encode(feedBody{Path: f.Path, OnError: f.OnError, Schema: f.Schema})
}

// genFile writes a valid CSV of benchFeed's schema of about size bytes to
// path: ascending ids, otherwise pseudo-random values from a fixed seed, so
// that it compresses about as well as real exports do (3–4:1 with deflate).
func genFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %q: %w", path, err)
	}
	if err := writeCSV(f, size); err != nil {
		f.Close()
		return fmt.Errorf("write %q: %w", path, err)
	}
	return f.Close()
}

func writeCSV(w io.Writer, size int64) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	n, _ := bw.WriteString("id,email,amount,day,tier,name,qty,active,created,code\n")
	written := int64(n)
	rng := rand.New(rand.NewPCG(1, 2))
	tiers := []string{"gold", "silver", "bronze"}
	first := []string{"Alice", "Bob", "Chloé", "Dara", "Émile", "Farid", "Gwen", "Hiro", "Ines", "Jonas"}
	last := []string{"Martin", "Dupont", "Müller", "O'Neill", "Zola", "Haddad", "Jones", "Sato", "García", "Berg"}
	// Addresses are ASCII, as nearly all are: an internationalised local
	// part takes csvcheck's slower net/mail path.
	locals := []string{"alice", "bob", "chloe", "dara", "emile", "farid", "gwen", "hiro", "ines", "jonas"}
	domains := []string{"example.com", "example.org", "mail.example.net", "corp.example"}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	line := make([]byte, 0, 256)
	for i := int64(1); written < size; i++ {
		line = line[:0]
		line = strconv.AppendInt(line, i, 10)
		line = append(line, ',')
		line = append(line, locals[rng.IntN(len(locals))]...)
		line = append(line, '.')
		line = strconv.AppendInt(line, int64(rng.IntN(1_000_000)), 10)
		line = append(line, '@')
		line = append(line, domains[rng.IntN(len(domains))]...)
		line = append(line, ',')
		line = strconv.AppendInt(line, int64(rng.IntN(100_000)), 10)
		line = append(line, '.')
		c := rng.IntN(100)
		line = append(line, byte('0'+c/10), byte('0'+c%10))
		line = append(line, ',')
		t := t0.Add(time.Duration(i)*3*time.Second + time.Duration(rng.IntN(3000))*time.Millisecond)
		line = t.AppendFormat(line, "2006-01-02")
		line = append(line, ',')
		line = append(line, tiers[rng.IntN(len(tiers))]...)
		line = append(line, ',')
		line = append(line, first[rng.IntN(len(first))]...)
		line = append(line, ' ')
		line = append(line, last[rng.IntN(len(last))]...)
		line = append(line, ',')
		line = strconv.AppendInt(line, int64(rng.IntN(1000)), 10)
		line = append(line, ',')
		line = strconv.AppendBool(line, rng.IntN(2) == 0)
		line = append(line, ',')
		line = t.AppendFormat(line, time.RFC3339)
		line = append(line, ',', byte('A'+rng.IntN(26)), byte('A'+rng.IntN(26)), byte('A'+rng.IntN(26)), '-')
		line = strconv.AppendInt(line, int64(1000+rng.IntN(9000)), 10)
		line = append(line, '\n')
		n, err := bw.Write(line)
		if err != nil {
			return err
		}
		written += int64(n)
	}
	return bw.Flush()
}
