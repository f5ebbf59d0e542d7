package main

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/vedfolnir/sessions/audit"
	"github.com/vedfolnir/sessions/ginsession"
)

// auditItem is one entry of GET /api/audit.
type auditItem struct {
	Time      string `json:"time"`
	Type      string `json:"type"`
	Session   string `json:"session"`
	IP        string `json:"ip"`
	UserAgent string `json:"user_agent"`
	Detail    string `json:"detail"`
}

// auditLimit parses ?limit=: 1 to audit.MaxLimit, default 50.
func auditLimit(c *gin.Context) (int, bool) {
	v, ok := c.GetQuery("limit")
	if !ok {
		return audit.DefaultLimit, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > audit.MaxLimit {
		errorJSON(c, http.StatusBadRequest, "limit must be an integer from 1 to "+strconv.Itoa(audit.MaxLimit))
		return 0, false
	}
	return n, true
}

// history returns the latest limit events of userID.
func (a *App) history(c *gin.Context, userID string, limit int) ([]auditItem, error) {
	recs, err := a.audit.History(c.Request.Context(), userID, audit.Filter{Limit: limit})
	if err != nil {
		return nil, err
	}
	out := make([]auditItem, 0, len(recs))
	for _, r := range recs {
		out = append(out, auditItem{Time: rfc3339(r.Time), Type: string(r.Kind), Session: r.Session,
			IP: r.IP, UserAgent: r.UserAgent, Detail: r.Detail})
	}
	return out, nil
}

// GET /api/audit?limit=n[&user_id=id]: the user's session history. Only
// an admin may read another user's.
func (a *App) listAudit(c *gin.Context) {
	u, ok := ginsession.CurrentUser(c)
	if !ok {
		errorJSON(c, http.StatusUnauthorized, "not logged in")
		return
	}
	limit, ok := auditLimit(c)
	if !ok {
		return
	}
	target := u.ID
	if v, ok := c.GetQuery("user_id"); ok && v != u.ID {
		if u.Role != "admin" {
			errorJSON(c, http.StatusForbidden, "only an admin may read another user's history")
			return
		}
		if _, known := userByID(v); !known {
			errorJSON(c, http.StatusNotFound, "no such user")
			return
		}
		target = v
	}
	list, err := a.history(c, target, limit)
	if err != nil {
		a.log.Warn("audit history", "err", err)
		errorJSON(c, http.StatusServiceUnavailable, "audit trail unavailable")
		return
	}
	c.JSON(http.StatusOK, list)
}
