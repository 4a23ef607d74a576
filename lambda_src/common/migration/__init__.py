"""Migration files, their statements, the manifest and the migrator's errors: shared by the
migrator function (reads the published set), its worker (applies it) and the operator's CLI."""
