package protocol_test

import (
	"errors"
	"fmt"

	"github.com/ferrysync/ferry/eventstore"
	"github.com/ferrysync/ferry/sync/protocol"
)

// The hub's side of a handshake and a push: decode each frame under the
// limits it enforces, answer with an encoded message, and turn a bad frame
// into an error message and a close code.
func Example() {
	limits := protocol.DefaultLimits()

	// The client says hello with the cursor it persisted.
	hello, _ := protocol.Encode(&protocol.Hello{Versions: []int{1}, Client: "laptop-1", Cursor: 41})
	fmt.Println(string(hello))

	msg, err := protocol.Decode(hello, limits)
	if err != nil {
		fmt.Println(err)
		return
	}
	h := msg.(*protocol.Hello)
	version, ok := protocol.Negotiate(h.Versions)
	fmt.Println("client", h.Client, "resumes after", h.Cursor, "speaking version", version, ok)

	// It pushes one event; the hub acks it with its hub position.
	push, _ := protocol.Encode(&protocol.Push{Batch: "b1", Events: []protocol.Event{{
		ID: "01J9ZQ3W5E8Y7X6V5T4S3R2Q1P", Stream: "task/42", Type: "task:created",
		Data: []byte(`{"title":"milk"}`), Created: protocol.Timestamp(eventstore.MakeTimestamp(1_726_000_000_000, 0)), Origin: "laptop-1",
	}}})
	msg, _ = protocol.Decode(push, limits)
	p := msg.(*protocol.Push)
	ack, _ := protocol.Encode(&protocol.Ack{Batch: p.Batch, Results: []protocol.AckResult{{ID: p.Events[0].ID, HubPosition: 42}}})
	fmt.Println(string(ack))

	// A frame with an unknown type is refused with an error message and a
	// close code.
	_, err = protocol.Decode([]byte(`{"v":1,"type":"subscribe","body":{}}`), limits)
	var perr *protocol.Error
	if errors.As(err, &perr) {
		frame, _ := protocol.Encode(perr)
		fmt.Println(string(frame))
		fmt.Println("close", perr.Code.CloseCode(), "resume:", perr.Code.Resume())
	}
	// Output:
	// {"v":1,"type":"hello","body":{"versions":[1],"client":"laptop-1","cursor":41}}
	// client laptop-1 resumes after 41 speaking version 1 true
	// {"v":1,"type":"ack","body":{"batch":"b1","results":[{"id":"01J9ZQ3W5E8Y7X6V5T4S3R2Q1P","hub_position":42}]}}
	// {"v":1,"type":"error","body":{"code":"protocol_violation","message":"unknown message type \"subscribe\""}}
	// close 4000 resume: false
}

// A client reacting to the way a connection ended.
func ExampleFromCloseCode() {
	for _, close := range []int{protocol.CloseSlowConsumer, protocol.CloseUnauthorized, 1009, 1006} {
		code, ok := protocol.FromCloseCode(close)
		switch {
		case !ok:
			fmt.Println(close, "dropped: reconnect with backoff")
		case code.Resume():
			fmt.Println(close, code, ": reconnect and resume from the cursor")
		default:
			fmt.Println(close, code, ": do not retry as is")
		}
	}
	// Output:
	// 4021 slow_consumer : reconnect and resume from the cursor
	// 4010 unauthorized : do not retry as is
	// 1009 frame_too_large : do not retry as is
	// 1006 dropped: reconnect with backoff
}
