"""Seeded synthetic labels and conveyor footage for the demo, the tests and the benchmarks."""
