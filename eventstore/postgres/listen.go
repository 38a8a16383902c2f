package postgres

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// notifyChannel is the LISTEN/NOTIFY channel every Ferry process uses;
// payloads name the schema and tenant (notifyPayload).
const notifyChannel = "ferry_events"

// Listener reconnect backoff bounds.
const (
	minListenBackoff = 100 * time.Millisecond
	maxListenBackoff = 10 * time.Second
)

// notifyPayload is the JSON payload of a commit notification.
type notifyPayload struct {
	Schema string `json:"s"`
	Tenant string `json:"t"`
}

func (db *DB) notifyPayload(tenant string) string {
	b, _ := json.Marshal(notifyPayload{Schema: db.schema, Tenant: tenant})
	return string(b)
}

// connectListener opens the dedicated listener connection (outside the
// pool, so it never takes a pool slot) and subscribes to notifyChannel.
func (db *DB) connectListener(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, db.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+quoteIdent(notifyChannel)); err != nil {
		closeConn(conn)
		return nil, err
	}
	return conn, nil
}

// listen receives notifications on conn and wakes the matching stores,
// reconnecting with exponential backoff when the connection fails, until
// ctx is cancelled.
func (db *DB) listen(ctx context.Context, conn *pgx.Conn) {
	defer close(db.listenDone)
	backoff := minListenBackoff
	for {
		if conn != nil {
			err := db.receive(ctx, conn)
			db.listenPID.Store(0)
			closeConn(conn)
			conn = nil
			if ctx.Err() != nil {
				return
			}
			db.logger.Warn("postgres: listener connection lost", slog.Any("err", err))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		c, err := db.connectListener(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			db.logger.Warn("postgres: listener reconnect failed", slog.Any("err", err), slog.Duration("retry_in", backoff))
			backoff = min(2*backoff, maxListenBackoff)
			continue
		}
		db.logger.Info("postgres: listener reconnected")
		backoff = minListenBackoff
		conn = c
		db.broadcastAll() // commits made while disconnected were not notified
		db.listenPID.Store(c.PgConn().PID())
	}
}

// receive handles notifications until the connection fails or ctx ends.
func (db *DB) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var p notifyPayload
		if err := json.Unmarshal([]byte(n.Payload), &p); err != nil || p.Schema != db.schema {
			continue // another schema, or not ours
		}
		db.broadcast(p.Tenant)
	}
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}
