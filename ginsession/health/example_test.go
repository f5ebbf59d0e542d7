package health_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/ginsession/health"
)

// Serve /healthz for an app that keeps its sessions in SQLite.
func ExampleHandler() {
	dir, _ := os.MkdirTemp("", "health-example-")
	defer os.RemoveAll(dir)
	db, err := sql.Open("sqlite", filepath.Join(dir, "s.db"))
	if err != nil {
		panic(err)
	}
	defer db.Close()

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/healthz", health.Handler(health.Options{Mode: health.ModeDatabase, DB: db}))

	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
	var rep health.Report
	_ = json.Unmarshal(w.Body.Bytes(), &rep)
	fmt.Println(w.Code, rep.Status, rep.Storage, "redis:", rep.Redis.State, "database:", rep.Database.State)
	// Output:
	// 200 ok database redis: not_configured database: up
}
