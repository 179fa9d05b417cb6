"""Datasets: reading and writing tables, hashing, splitting and the built-in synthetic data."""
