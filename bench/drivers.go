package bench

// ours-sqlite opens its store through database/sql: dbstore links no
// driver itself.
import _ "modernc.org/sqlite"
