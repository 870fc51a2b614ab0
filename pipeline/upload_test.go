package pipeline

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluicehq/sluice/credentials"
	"github.com/sluicehq/sluice/store/storetest"
)

func TestUploadsPaging(t *testing.T) {
	for _, tdb := range databases(t) {
		t.Run(tdb.Name, func(t *testing.T) {
			_, js := startNATS(t).connect()
			db := tdb.Open(t)
			in := newTestIntake(t, db, js)

			var acme, globex []Upload // in order of receipt
			for i := range 25 {
				account := "acme"
				if i%5 == 4 {
					account = "globex"
				}
				u, err := in.Receive(t.Context(), newUpload(account, fmt.Sprintf("/in/%02d.csv", i), fmt.Sprint(i)))
				require.NoError(t, err)
				if account == "acme" {
					acme = append(acme, u)
				} else {
					globex = append(globex, u)
				}
			}
			// Two acme uploads moved on (the pipeline's job, done by hand here).
			for _, u := range acme[:2] {
				_, err := db.ExecContext(t.Context(), `UPDATE uploads SET status = 'ready' WHERE id = $1`, u.ID)
				require.NoError(t, err)
			}

			newestFirst := func(us []Upload) []string {
				ids := make([]string, len(us))
				for i, u := range us {
					ids[len(us)-1-i] = u.ID
				}
				return ids
			}
			tests := []struct {
				name   string
				filter UploadFilter
				limit  int
				want   []string
			}{
				{name: "account", filter: UploadFilter{Account: "acme"}, limit: 7, want: newestFirst(acme)},
				{name: "other account", filter: UploadFilter{Account: "globex"}, limit: 2, want: newestFirst(globex)},
				{name: "status", filter: UploadFilter{Status: StatusReady}, limit: 1, want: newestFirst(acme[:2])},
				{name: "account and status", filter: UploadFilter{Account: "acme", Status: StatusReceived}, limit: 100, want: newestFirst(acme[2:])},
				{name: "no match", filter: UploadFilter{Account: "initech"}, limit: 10, want: nil},
				{name: "exact pages", filter: UploadFilter{Account: "globex"}, limit: 5, want: newestFirst(globex)},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					var got []string
					cursor, pages := "", 0
					for {
						items, next, err := in.Uploads(t.Context(), tc.filter, credentials.Page{After: cursor, Limit: tc.limit})
						require.NoError(t, err)
						require.LessOrEqual(t, len(items), tc.limit)
						for _, u := range items {
							got = append(got, u.ID)
						}
						pages++
						if next == "" {
							break
						}
						require.Len(t, items, tc.limit, "only a full page has a next page")
						cursor = next
					}
					require.Equal(t, tc.want, got)
					require.Equal(t, max(1, (len(tc.want)+tc.limit-1)/tc.limit), pages)
				})
			}

			t.Run("newest first across accounts", func(t *testing.T) {
				items, next, err := in.Uploads(t.Context(), UploadFilter{}, credentials.Page{})
				require.NoError(t, err)
				require.Empty(t, next)
				require.Len(t, items, 25)
				for i := 1; i < len(items); i++ {
					require.Greater(t, items[i-1].ID, items[i].ID)
				}
			})
		})
	}
}

func TestUploadsRefuses(t *testing.T) {
	_, js := startNATS(t).connect()
	in := newTestIntake(t, storetest.SQLite(t), js)
	tests := []struct {
		name   string
		filter UploadFilter
		page   credentials.Page
		field  string
	}{
		{name: "status", filter: UploadFilter{Status: "done"}, field: "status"},
		{name: "cursor not base64", page: credentials.Page{After: "!!"}, field: "cursor"},
		{name: "cursor not an id", page: credentials.Page{After: encodeCursor("acme")}, field: "cursor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := in.Uploads(t.Context(), tc.filter, tc.page)
			var ve *credentials.ValidationError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, tc.field, ve.Field)
		})
	}
}

func TestUploadNotFound(t *testing.T) {
	_, js := startNATS(t).connect()
	in := newTestIntake(t, storetest.SQLite(t), js)
	_, err := in.Upload(t.Context(), "01JNOSUCHUPLOAD00000000000")
	require.ErrorIs(t, err, credentials.ErrNotFound)
	require.True(t, errors.Is(err, credentials.ErrNotFound))
}

func TestUploadJSON(t *testing.T) {
	u := newUpload("acme", "/orders/x.csv", "x")
	u.ID, u.Feed, u.Status = "01JUPLOAD00000000000000000", "orders", StatusReceived
	b, err := json.Marshal(u)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	for _, k := range []string{"id", "account", "feed", "path", "size", "sha256", "status", "received_at"} {
		require.Contains(t, m, k, "DESIGN.md's uploads list shape")
	}
	require.NotContains(t, m, "file", "the local path stays inside the server")
	require.NotContains(t, m, "published_at", "omitted while unpublished")
}
