package redisstore_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/vedfolnir/sessions/redisstore"
	"github.com/vedfolnir/sessions/store"
)

// ExampleNew builds a store on a go-redis client with the package's
// fail-fast settings and saves, reads and deletes a session. It needs a
// Redis at 127.0.0.1:6379, so it is compiled but not run by go test.
func ExampleNew() {
	client := redis.NewUniversalClient(redisstore.UniversalOptions("127.0.0.1:6379"))
	defer client.Close()
	s, err := redisstore.New(client, redisstore.Options{Prefix: "myapp:"})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()

	now := time.Now()
	e := &store.Entry{
		Key:              store.NewToken().Key(),
		Version:          1,
		UserID:           "42",
		Created:          now,
		LastActivity:     now,
		IdleDeadline:     now.Add(2 * time.Hour),
		AbsoluteDeadline: now.Add(24 * time.Hour),
		Payload:          []byte("sealed envelope"),
	}
	if err := s.Put(ctx, e, 0); err != nil { // create
		log.Fatal(err)
	}
	got, err := s.Get(ctx, e.Key)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.UserID, got.Version)
	if err := s.Delete(ctx, e.Key); err != nil {
		log.Fatal(err)
	}
}

// ExampleNewFromURL builds a store from a URL; the store owns the client.
func ExampleNewFromURL() {
	s, err := redisstore.NewFromURL("redis://127.0.0.1:6379/0", redisstore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	// Cluster: "redis+cluster://10.0.0.1:7000?addr=10.0.0.2:7000&addr=10.0.0.3:7000"
	// Sentinel: "redis+sentinel://10.0.0.1:26379?master_name=mymaster"
}

// The prefix rule: the default prefix and the plan's
// REDIS_SESSION_PREFIX=vedfolnir:session: give the same, printable names.
func ExampleKeyName() {
	key := strings.Repeat("A", 43) // a store key: store.KeyFromToken(token)
	for _, prefix := range []string{"", "vedfolnir:session:", "app:"} {
		fmt.Println(redisstore.KeyName(prefix, key), redisstore.IndexKeyName(prefix, "1"))
	}
	// Output:
	// vedfolnir:session:AAAAAAAAAAAAAAAAAAAAAAAAAA vedfolnir:users:0b86
	// vedfolnir:session:AAAAAAAAAAAAAAAAAAAAAAAAAA vedfolnir:users:0b86
	// app:session:AAAAAAAAAAAAAAAAAAAAAAAAAA app:users:0b86
}
