"""The pipeline steps, one module each: typed parameters in, a typed output back."""
