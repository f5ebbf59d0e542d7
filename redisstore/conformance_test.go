package redisstore_test

import (
	"testing"

	"github.com/vedfolnir/sessions/store"
	"github.com/vedfolnir/sessions/store/storetest"
)

func TestConformance(t *testing.T) {
	c := newClient(t)
	storetest.Run(t, func(t *testing.T) store.Store { return newStore(t, c) }, storetest.Options{})
}

func TestConformanceCluster(t *testing.T) {
	c := newClusterClient(t)
	storetest.Run(t, func(t *testing.T) store.Store { return newStore(t, c) }, storetest.Options{})
}
