"""Bootstrap Lambda: creates the application database, its users and the migration bookkeeping."""
