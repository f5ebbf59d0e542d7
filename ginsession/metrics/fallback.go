package metrics

import "github.com/prometheus/client_golang/prometheus"

// fallbackCollector reads a FallbackStats once per scrape and reports its
// three values, so they always describe the same instant.
type fallbackCollector struct {
	stats                  FallbackStats
	engaged, depth, lagSec *prometheus.Desc
}

func newFallbackCollector(stats FallbackStats, cl prometheus.Labels) *fallbackCollector {
	name := func(n string) string { return prometheus.BuildFQName(Namespace, "fallback", n) }
	return &fallbackCollector{
		stats:   stats,
		engaged: prometheus.NewDesc(name("engaged"), "1 while the storage fallback serves from its secondary store, else 0.", nil, cl),
		depth:   prometheus.NewDesc(name("queue_depth"), "Session writes waiting to be mirrored or replayed by the storage fallback.", nil, cl),
		lagSec:  prometheus.NewDesc(name("mirror_lag_seconds"), "How far the storage fallback's mirror lags behind, in seconds.", nil, cl),
	}
}

// Describe implements prometheus.Collector.
func (f *fallbackCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- f.engaged
	ch <- f.depth
	ch <- f.lagSec
}

// Collect implements prometheus.Collector.
func (f *fallbackCollector) Collect(ch chan<- prometheus.Metric) {
	engaged, depth, lag := f.stats()
	e := 0.0
	if engaged {
		e = 1
	}
	ch <- prometheus.MustNewConstMetric(f.engaged, prometheus.GaugeValue, e)
	ch <- prometheus.MustNewConstMetric(f.depth, prometheus.GaugeValue, float64(depth))
	ch <- prometheus.MustNewConstMetric(f.lagSec, prometheus.GaugeValue, lag.Seconds())
}
