package health_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/ginsession/health"
	"github.com/vedfolnir/sessions/storage"
)

// Serve /healthz for an app that keeps its sessions in SQLite.
func ExampleHandler() {
	dir, _ := os.MkdirTemp("", "health-example-")
	defer os.RemoveAll(dir)
	st, err := storage.Open(context.Background(),
		storage.Config{Mode: storage.ModeDatabase, DatabaseURL: filepath.Join(dir, "s.db")}, storage.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/healthz", health.Handler(st, health.Options{}))

	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
	var rep storage.Health
	_ = json.Unmarshal(w.Body.Bytes(), &rep)
	fmt.Println(w.Code, rep.Status, rep.Storage, "redis:", rep.Redis.State, "database:", rep.Database.State)
	// Output:
	// 200 ok database redis: not_configured database: up
}
