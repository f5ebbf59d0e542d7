package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vedfolnir/sessions/hybrid"
)

// hybridCollector reads a hybrid store's status once per scrape and
// reports its values, so they always describe the same instant.
type hybridCollector struct {
	status                 func() hybrid.Status
	engaged, depth, lagSec *prometheus.Desc
}

func newHybridCollector(ns string, status func() hybrid.Status, cl prometheus.Labels) *hybridCollector {
	name := func(n string) string { return prometheus.BuildFQName(ns, "hybrid", n) }
	return &hybridCollector{
		status:  status,
		engaged: prometheus.NewDesc(name("engaged"), "1 while the hybrid store serves from its secondary store, else 0.", nil, cl),
		depth:   prometheus.NewDesc(name("queue_depth"), "Session writes waiting in the hybrid store's mirror queue.", nil, cl),
		lagSec:  prometheus.NewDesc(name("mirror_lag_seconds"), "Age of the oldest write waiting in the hybrid store's mirror queue, in seconds.", nil, cl),
	}
}

// Describe implements prometheus.Collector.
func (c *hybridCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.engaged
	ch <- c.depth
	ch <- c.lagSec
}

// Collect implements prometheus.Collector.
func (c *hybridCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.status()
	e := 0.0
	if st.Engaged {
		e = 1
	}
	ch <- prometheus.MustNewConstMetric(c.engaged, prometheus.GaugeValue, e)
	ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(st.QueueDepth))
	ch <- prometheus.MustNewConstMetric(c.lagSec, prometheus.GaugeValue, st.QueueLag.Seconds())
}
