"""Bootstrap Lambda: creates the application database, its users and the migration bookkeeping
on the current writer, through the bootstrap worker of the writer's region."""
