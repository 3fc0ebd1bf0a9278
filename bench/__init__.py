"""medzoo benchmarks (see bench/README.md)."""
