// Package tenants pools the hub's tenant stores: a Pool (a hub.Ledgers)
// opens a tenant's store on the first connection that needs it, shares it
// among the tenant's connections, and closes the least recently used idle
// stores beyond a bound, never one in use. SQLite keeps one file per
// tenant in a directory (the embedded hub); Postgres hands out the
// tenants' stores in one database.
//
// A store closed while idle is reopened on the tenant's next connection
// from the same file (or database), so its devices resume from their
// cursors as before.
package tenants
