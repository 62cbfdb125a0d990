package pgstore

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	bolt "go.etcd.io/bbolt"

	"rocketlite/store"
	"rocketlite/store/migratetest"
	"rocketlite/store/pgstore/pgtest"
)

// filledBolt returns a bbolt file filled with every kind of record (perRoom bulk messages).
func filledBolt(t *testing.T, perRoom int) (*store.Bolt, *migratetest.Fixture) {
	t.Helper()
	clock := &migratetest.Clock{T: migratetest.Start}
	src, err := store.Open(filepath.Join(t.TempDir(), "src.db"), store.Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src, migratetest.Fill(t, src, clock, perRoom)
}

// TestImport: every record of a bbolt file comes over, and the copy answers the contract as
// the file does: same users (logins with the old passwords), tokens, rooms, memberships with
// unread counts and mentions, histories in order with their ids, threads, pins, stars,
// reactions, deletions, roles, permissions and webhooks.
func TestImport(t *testing.T) {
	src, f := filledBolt(t, 50)
	dst := openTest(t, "", store.Options{Now: f.Clock.Now})
	want, err := src.ExportCounts()
	if err != nil {
		t.Fatal(err)
	}
	indexes := indexDefs(t, dst)
	progress := map[store.RecordKind]int{}
	var stages []string
	got, err := dst.Import(context.Background(), src.Export, ImportOptions{Want: want, Batch: 7,
		Progress: func(k store.RecordKind, n int) { progress[k] = n },
		Stage:    func(what string) { stages = append(stages, what) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(stages) != 3 {
		t.Errorf("stages reported: %q", stages)
	}
	for _, k := range store.RecordKinds {
		if got[k] != want[k] || want[k] == 0 || progress[k] != want[k] {
			t.Errorf("%s: source %d, copy %d, progress %d", k, want[k], got[k], progress[k])
		}
	}
	if after := indexDefs(t, dst); !slices.Equal(after, indexes) || len(indexes) < 20 {
		t.Errorf("indexes before the import:\n%s\nafter:\n%s", strings.Join(indexes, "\n"), strings.Join(after, "\n"))
	}
	migratetest.Compare(t, f, src, dst)
	// The copy keeps every column in step with its doc, as PostgreSQL's check sees it.
	for _, err := range dst.Check() {
		t.Errorf("check of the copy: %v", err)
	}
}

// indexDefs lists the definitions of the indexes of st's schema (Import drops and rebuilds
// the plain ones).
func indexDefs(t *testing.T, st *Store) []string {
	t.Helper()
	rows, err := st.Pool().Query(context.Background(), `SELECT indexdef FROM pg_indexes
		WHERE schemaname = current_schema() ORDER BY indexname`)
	if err != nil {
		t.Fatal(err)
	}
	defs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return defs
}

// TestImportRefusesNonEmpty: a database with any row is refused, named, and left as it was.
func TestImportRefusesNonEmpty(t *testing.T) {
	src, _ := filledBolt(t, 0)
	dst := openTest(t, "", store.Options{})
	if err := dst.SetMeta("someone", "was here"); err != nil {
		t.Fatal(err)
	}
	_, err := dst.Import(context.Background(), src.Export, ImportOptions{})
	var ne *NotEmptyError
	if !errors.As(err, &ne) || len(ne.Tables) != 1 || ne.Tables[0] != "meta" {
		t.Fatalf("Import into a non-empty database = %v, want NotEmptyError naming meta", err)
	}
	c, err := dst.Counts()
	if err != nil {
		t.Fatal(err)
	}
	for table, n := range c {
		if n != 0 && table != "meta" && table != "schema_migrations" {
			t.Errorf("table %s has %d rows after a refused import", table, n)
		}
	}
}

// TestImportLeavesNothingOnFailure: an export that fails midway (after users and rooms were
// sent), and a source whose counts disagree with the copy, both leave the target empty,
// ready for another try.
func TestImportLeavesNothingOnFailure(t *testing.T) {
	src, _ := filledBolt(t, 0)
	dst := openTest(t, "", store.Options{})
	indexes := indexDefs(t, dst)
	boom := errors.New("disk on fire")
	failing := func(ctx context.Context, fn func(store.Record) error) error {
		return src.Export(ctx, func(r store.Record) error {
			if r.Kind() == store.KindMessage {
				return boom
			}
			return fn(r)
		})
	}
	if _, err := dst.Import(context.Background(), failing, ImportOptions{Batch: 3}); !errors.Is(err, boom) {
		t.Fatalf("failing export: Import = %v", err)
	}
	want, err := src.ExportCounts()
	if err != nil {
		t.Fatal(err)
	}
	want[store.KindMessage]++
	_, err = dst.Import(context.Background(), src.Export, ImportOptions{Want: want})
	var cm *CountMismatchError
	if !errors.As(err, &cm) || len(cm.Lines) != 1 {
		t.Fatalf("source counting one more message: Import = %v, want CountMismatchError on messages", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := dst.Import(ctx, src.Export, ImportOptions{}); err == nil {
		t.Fatal("cancelled Import succeeded")
	}
	c, err := dst.Counts()
	if err != nil {
		t.Fatal(err)
	}
	for table, n := range c {
		if n != 0 && table != "schema_migrations" {
			t.Errorf("table %s has %d rows after failed imports", table, n)
		}
	}
	if after := indexDefs(t, dst); !slices.Equal(after, indexes) {
		t.Errorf("indexes changed by failed imports:\n%s", strings.Join(after, "\n"))
	}
	// And the target takes the copy afterwards.
	want[store.KindMessage]--
	if _, err := dst.Import(context.Background(), src.Export, ImportOptions{Want: want}); err != nil {
		t.Fatalf("Import after the failures: %v", err)
	}
}

// TestImportBrokenFile: a file that breaks an invariant (a token of a user that does not
// exist) is refused with the table named and a pointer to rocketlite check; nothing is
// committed.
func TestImportBrokenFile(t *testing.T) {
	src, _ := filledBolt(t, 0)
	rec := append([]byte("ghost"), make([]byte, 16)...)
	rec[len(rec)-9] = 1 // expires in the far future: a plausible token record
	if err := src.DB().Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("tokens")).Put(bytes.Repeat([]byte{7}, 32), rec)
	}); err != nil {
		t.Fatal(err)
	}
	dst := openTest(t, "", store.Options{})
	_, err := dst.Import(context.Background(), src.Export, ImportOptions{})
	if err == nil || !strings.Contains(err.Error(), "copy into tokens") || !strings.Contains(err.Error(), "rocketlite check") {
		t.Fatalf("Import of a token without its user = %v", err)
	}
	c, err := dst.Counts()
	if err != nil {
		t.Fatal(err)
	}
	for table, n := range c {
		if n != 0 && table != "schema_migrations" {
			t.Errorf("table %s has %d rows after a refused import", table, n)
		}
	}
}

// TestImportTwiceAtOnce: two imports into one database at the same time: one copies, the
// other waits for it and is refused; the copy is whole.
func TestImportTwiceAtOnce(t *testing.T) {
	src, _ := filledBolt(t, 20)
	dsn := pgtest.DSN(t)
	a, b := openTest(t, dsn, store.Options{}), openTest(t, dsn, store.Options{})
	want, err := src.ExportCounts()
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	for _, st := range []*Store{a, b} {
		go func() {
			_, err := st.Import(context.Background(), src.Export, ImportOptions{Want: want, Batch: 5})
			errs <- err
		}()
	}
	var ok, refused int
	for range 2 {
		var ne *NotEmptyError
		switch err := <-errs; {
		case err == nil:
			ok++
		case errors.As(err, &ne):
			refused++
		default:
			t.Errorf("Import: %v", err)
		}
	}
	if ok != 1 || refused != 1 {
		t.Fatalf("%d imports succeeded, %d were refused; want one each", ok, refused)
	}
	c, err := a.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if c["messages"] != want[store.KindMessage] || c["users"] != want[store.KindUser] {
		t.Fatalf("after both: %d messages, %d users; the file has %d, %d", c["messages"], c["users"], want[store.KindMessage], want[store.KindUser])
	}
}

// TestImportCoversSchema: every table of the schema is either filled by Import, every column
// of it, or left empty on purpose. A migration that adds a table or a column beside doc
// fails here until import.go writes it.
func TestImportCoversSchema(t *testing.T) {
	st := openTest(t, "", store.Options{})
	rows, err := st.Pool().Query(context.Background(), `SELECT c.table_name, c.column_name
		FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
		WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	type col struct{ Table, Column string }
	cols, err := pgx.CollectRows(rows, pgx.RowToStructByPos[col])
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range cols {
		first := !seen[c.Table]
		seen[c.Table] = true
		if _, skip := importSkipped[c.Table]; skip {
			continue
		}
		written, ok := importColumns[c.Table]
		if !ok {
			if first {
				t.Errorf("table %s: Import does not fill it (import.go: importColumns, or importSkipped with the reason)", c.Table)
			}
			continue
		}
		if !slices.Contains(written, c.Column) {
			t.Errorf("column %s.%s: Import does not write it (import.go)", c.Table, c.Column)
		}
	}
	for table := range importColumns {
		if !seen[table] {
			t.Errorf("Import writes table %s, which the schema does not have", table)
		}
	}
}

// TestImportBatchBytes: big rows (avatars) are sent once their bytes reach BatchBytes, not
// only every Batch rows, so that the memory of a copy stays bounded; they arrive whole.
func TestImportBatchBytes(t *testing.T) {
	src, f := filledBolt(t, 0)
	for _, name := range []string{"ann", "cy", "eve"} {
		data := bytes.Repeat([]byte(name), 100<<10/len(name))
		if err := src.SetAvatar(f.Users[name].ID, &store.Avatar{ContentType: "image/png", Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	dst := openTest(t, "", store.Options{Now: f.Clock.Now})
	var reports []int
	_, err := dst.Import(context.Background(), src.Export, ImportOptions{Batch: 1 << 20, BatchBytes: 150 << 10,
		Progress: func(k store.RecordKind, n int) {
			if k == store.KindAvatar {
				reports = append(reports, n)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) < 2 || reports[len(reports)-1] != 4 {
		t.Fatalf("avatar batches sent after %v avatars; want at least two batches of the 4", reports)
	}
	migratetest.Compare(t, f, src, dst)
}
