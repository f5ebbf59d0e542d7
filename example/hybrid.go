package main

import "context"

// openHybrid opens Redis to serve sessions and the SQL store to mirror
// them.
func (a *App) openHybrid(ctx context.Context) error {
	rs, err := a.openRedis()
	if err != nil {
		return err
	}
	db, desc, err := a.openDBStore(ctx)
	if err != nil {
		return err
	}
	a.store, a.redis, a.broker, a.sqlDB = rs, rs.Client(), rs, db.DB()
	a.StorageDesc = "hybrid: redis " + redactURL(a.cfg.RedisURL) + ", mirror " + desc
	a.pingRedis(ctx)
	return nil
}
