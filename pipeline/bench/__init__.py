"""Benchmarks behind `sam-study bench`: measured optimizer overhead and study throughput."""
