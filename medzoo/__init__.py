"""The `medzoo` command: one composition root that mounts each package's own command group."""
