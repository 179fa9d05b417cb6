"""Benchmarks of kfp-ct: pipeline overhead, drift scaling, serving, training (`make bench`)."""
