// Package hub is the server side of Ferry's sync: the WebSocket endpoint
// that syncd serves at /sync. Edge clients (sync/client) push the events
// they wrote and pull everything else their tenant's ledger holds.
//
// # Authentication
//
// A client presents a JWT in the upgrade request, as "Authorization:
// Bearer <jwt>" or, for browsers, the access_token query parameter. The
// token names the tenant, the subject (device or user), an expiry, and
// optionally the stream prefixes the bearer may read and write. By default
// it is an HS256 token signed with Config.Secret (see IssueToken and
// VerifyToken). Config.Verifier takes a Verifier (NewVerifier) that also,
// or only, accepts the app's identity provider's RS256, ES256 and EdDSA
// tokens, verified with public keys from PEM files, JWKS files (KeyFiles,
// reloaded on demand) or a JWKS URL (JWKSFetcher, refreshed in the
// background and on an unknown kid), with configurable claim names for the
// tenant and the scope, an optional audience and issuer, and a leeway. The
// token's alg selects the key type; "none" and any other alg are refused.
// A missing, malformed, forged, expired, wrong-audience, wrong-issuer,
// unknown-key or tenant-less token is refused with HTTP 401 before the
// upgrade; nothing flows. The error is a *TokenError naming the reason
// (ErrTokenExpired, ErrUnknownKey, ...), logged by the Server.
// The tenant comes only from the verified token: Config.Ledgers hands the
// Server a ledger scoped to it, so a connection can neither read nor write
// another tenant's events.
//
// # Ledgers
//
// The hub needs four methods of a tenant's store, the Ledger interface
// (every eventstore.Store is one). Config.Ledgers lends a ledger to each
// connection and takes it back when the connection has ended; package
// sync/hub/tenants pools them, opening a tenant's store on demand and
// closing idle ones beyond a bound (syncd's --max-open-tenants).
//
// # One connection
//
// After the client's Hello the hub answers Welcome and then, concurrently:
//
//   - Push: each batch is inserted idempotently by event id
//     (eventstore.Store.Insert) and answered with one Ack giving every
//     event its hub position, the event's Position in the hub's store. A
//     re-sent batch gets the same positions and stores nothing twice. An
//     id already taken by a different event (another stream, type, creation
//     time or origin) is rejected as invalid_event, so a pusher never learns
//     the position of an event it did not write.
//     Events outside the token's scope, and events the store refuses
//     (unknown type, invalid payload), are rejected one by one; the rest
//     of the batch is stored. An event stamped more than
//     Config.MaxClockDrift ahead of the hub's clock (Config.Now) is not
//     stored yet: on protocol version 2 it is deferred
//     (protocol.CodeDeferred, with a retry hint), on version 1 rejected
//     with clock_drift. Welcome carries the hub's time, from which clients
//     correct their clocks; Hello's app version is logged and listed by
//     Server.Clients. Frames are decoded while earlier
//     batches are stored, and batches waiting together are stored in one
//     Insert (one transaction), each still answered by its own Ack.
//   - Pull: the ledger after the Hello cursor is streamed with
//     eventstore.Store.ReadAll one message at a time (bounded memory
//     however long the backlog), filtered to the token's scope and the
//     Hello's streams, each message carrying the cursor it advances to
//     (past filtered events too). CaughtUp marks the head; Live messages
//     follow as eventstore.Store.Wait reports commits. On PostgreSQL, Wait
//     wakes on commits made through any syncd node (LISTEN/NOTIFY), and
//     positions are assigned in commit order, so the stream is gap-free
//     and in hub order on every node. Events pushed through this node are
//     also kept in a small per-tenant log of recent events (at most 4096
//     events and 4 MiB per tenant with connections on the node, 64 MiB in
//     all), from which
//     the tenant's connections take their live events rather than each
//     reading them back from the store; a connection takes events from it
//     only from exactly its cursor on and reads anything else from the
//     store, so the stream stays gap-free.
//
// A malformed or oversize frame ends the connection with a protocol Error
// and its close code (an oversize frame is cut short by the read limit and
// closed with 1009, which clients map to protocol.CodeFrameTooLarge);
// nothing of it is stored and other connections are unaffected.
//
// # Backpressure and memory
//
// Each connection has one writer goroutine draining a bounded queue.
// Outbound frames are counted in bytes from before they are read from the
// ledger until they are written: at most Config.SendBytes for the whole
// Server (Server.OutboundBytes) and, past Config.ConnSendBytes, a
// connection waits for its client before reading its next batch, so a
// catch-up reads the ledger only as fast as the client drains the socket.
// During catch-up the hub sets the pace, however long the client takes to
// apply the backlog (a dead client is still dropped by the write timeout and
// the ping deadline), unless the hub runs short of SendBytes: then a
// connection whose write has not progressed for Config.SlowConsumerTimeout
// is dropped with protocol.CodeSlowConsumer. Once the client is live, when
// its queue stays full for Config.SlowConsumerTimeout, the connection is
// closed with protocol.CodeSlowConsumer too, which tells the client to
// reconnect and resume from its cursor. No lock is shared between
// connections while writing, so a slow client slows nobody else.
//
// Config.MaxConns and Config.MaxConnsPerSubject bound the connections of
// the node and of one token subject; more are refused before the upgrade
// with HTTP 503 or 429, protocol.CodeOverloaded and Retry-After.
//
// # Live events
//
// The connections of a tenant on one node share its recent log: one
// watcher follows the store's head for all of them (Store.Wait, which
// also sees commits through other nodes), pushes through the node wake
// them as soon as they commit, and a live event is encoded once for all
// the connections that read every stream.
//
// # Shutdown
//
// Shutdown stops accepting connections, lets pushes in progress finish and
// be acknowledged, and closes every connection with
// protocol.CodeGoingAway: clients resume from their cursor on any node.
package hub
