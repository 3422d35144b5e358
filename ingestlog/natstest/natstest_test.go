package natstest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestClusterReplicatesAndSurvivesANode starts three nodes, creates an R3
// stream, kills a node and still publishes, then brings the node back.
func TestClusterReplicatesAndSurvivesANode(t *testing.T) {
	c := Start(t, 3)
	nc, err := nats.Connect(c.URLs(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "t", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(0); err != nil {
		t.Fatal(err)
	}
	// A new stream leader may take a few seconds to be elected, and a
	// publication sent meanwhile may get no answer: each attempt has a
	// bound of its own, and one message id, so a retry of a publication
	// that was stored after all is not stored twice.
	var pubErr error
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, pubErr = js.Publish(attempt, "t", []byte("two"), jetstream.WithMsgID("two"))
		cancel()
		if pubErr == nil {
			break
		}
	}
	if pubErr != nil {
		t.Fatalf("publish with one node down: %v", pubErr)
	}
	if err := c.Restart(0); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	// The restarted node catches up on what it missed: wait for it, bounded.
	var msgs uint64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if msgs = info.State.Msgs; msgs == 2 || time.Now().After(deadline) {
			break
		}
	}
	if msgs != 2 {
		t.Errorf("stream holds %d messages, want 2", msgs)
	}
}
