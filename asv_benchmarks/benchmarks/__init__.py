"""asv benchmarks for xpgrad; see docs/benchmarks.md for how to run them."""
