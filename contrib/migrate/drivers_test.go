package migrate_test

// The database/sql drivers these tests open stores with: dbstore links
// none itself.
import (
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)
