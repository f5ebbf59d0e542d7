package record_test

// The database/sql driver these tests open stores with: dbstore links
// none itself.
import _ "modernc.org/sqlite"
