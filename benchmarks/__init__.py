"""Speed/memory comparisons against reference implementations, measured in one run: python -m benchmarks.<name>."""
