"""Demo media shipped with the package (see README.md here for its origin)."""
