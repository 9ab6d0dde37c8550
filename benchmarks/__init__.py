"""Benchmarks: our commands side by side with the standard tool, as ratios."""
