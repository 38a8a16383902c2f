package sqlite

import (
	"context"
	"database/sql/driver"
	"fmt"

	sqlite "modernc.org/sqlite"
)

// Prepared statements on the writer connection run without a cancellation
// watcher; the package documentation says what stays cancellable.
//
// For every statement whose context can be cancelled, modernc.org/sqlite
// starts a goroutine that waits for the context, so that it can interrupt
// the statement midway, and installs a progress handler: about 1.8 µs per
// statement, as much as a one-row INSERT costs itself
// (BenchmarkWriterStatementContext). A sync client's pull runs a prepared
// statement per event whenever a projector writes its read model a row at
// a time, under the context an app passes to Run. One-off statements keep
// the watcher: a long statement (a read-model rebuild with one INSERT …
// SELECT, a migration) would be one of them, and they pay a prepare per
// call anyway.

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

// writerConn is the writer's connection: the statements prepared on it run
// without a cancellation watcher.
type writerConn struct{ driverConn }

// PrepareContext prepares query under ctx (preparing happens once, and
// may wait for a lock), and returns it as a writerStmt.
func (c writerConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
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

// writerStmt is a statement prepared on the writer connection: it runs
// without a cancellation watcher.
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
