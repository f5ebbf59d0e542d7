package storage

// storage opens DATABASE_URL itself (through dbstore.Open), so it links the
// database/sql drivers of the engines it accepts. A program that builds
// its stores by hand links only the driver it imports.
import (
	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx": PostgreSQL
	_ "modernc.org/sqlite"             // driver "sqlite": embedded, pure Go
)
