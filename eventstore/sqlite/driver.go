package sqlite

import (
	"context"
	"database/sql/driver"
	"fmt"

	sqlite "modernc.org/sqlite"
)

// The writer connection runs its statements without a cancellation watcher.
//
// For every statement whose context can be cancelled, modernc.org/sqlite
// starts a goroutine that waits for the context, so that it can interrupt
// the statement midway, and installs a progress handler. That costs about
// 1.8 µs per statement, as much as a one-row INSERT costs itself
// (BenchmarkWriterStatementContext), and a sync client's pull runs a
// statement per event whenever a projector writes its read model a row at
// a time, under the context an app passes to Run, which apps cancel on
// shutdown. A write transaction's statements are short, and the writer
// holds the only write lock, so they never wait for one; a transaction
// whose context ends is still rolled back, since database/sql watches the
// context given to BeginTx. So on the writer connection a statement checks
// its context when it starts and then runs to its end; database/sql stops
// a query's rows between two rows. BeginTx keeps its context: waiting for
// another process's write lock stays cancellable.

// writerConnector opens the writer's connection (see above).
type writerConnector struct{ driver.Connector }

// newWriterConnector returns the connector of the writer's sql.DB for dsn.
func newWriterConnector(dsn string) (driver.Connector, error) {
	c, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return writerConnector{c}, nil
}

// driverConn is what database/sql uses of a modernc.org/sqlite connection.
type driverConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// driverStmt is what database/sql uses of a modernc.org/sqlite statement.
type driverStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

func (c writerConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	dc, ok := conn.(driverConn)
	if !ok {
		_ = conn.Close()
		return nil, fmt.Errorf("sqlite: driver connection %T lacks the context methods", conn)
	}
	return writerConn{dc}, nil
}

// writerConn is the writer's connection: its statements run without a
// cancellation watcher.
type writerConn struct{ driverConn }

func (c writerConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	ctx, err := uninterrupted(ctx)
	if err != nil {
		return nil, err
	}
	st, err := c.driverConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	ds, ok := st.(driverStmt)
	if !ok {
		_ = st.Close()
		return nil, fmt.Errorf("sqlite: driver statement %T lacks the context methods", st)
	}
	return writerStmt{ds}, nil
}

func (c writerConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	ctx, err := uninterrupted(ctx)
	if err != nil {
		return nil, err
	}
	return c.driverConn.ExecContext(ctx, query, args)
}

func (c writerConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	ctx, err := uninterrupted(ctx)
	if err != nil {
		return nil, err
	}
	return c.driverConn.QueryContext(ctx, query, args)
}

// writerStmt is a statement prepared on the writer connection.
type writerStmt struct{ driverStmt }

func (s writerStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	ctx, err := uninterrupted(ctx)
	if err != nil {
		return nil, err
	}
	return s.driverStmt.ExecContext(ctx, args)
}

func (s writerStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	ctx, err := uninterrupted(ctx)
	if err != nil {
		return nil, err
	}
	return s.driverStmt.QueryContext(ctx, args)
}

// uninterrupted returns ctx's error if it has ended, and otherwise ctx
// without its cancellation (and with its values), which the driver runs a
// statement under without watching it.
func uninterrupted(ctx context.Context) (context.Context, error) {
	if ctx.Done() == nil {
		return ctx, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return context.WithoutCancel(ctx), nil
}
