"""Benchmarks that print numbers (not tests). A package so worker processes can import bench.noop."""
