"""Capture of served traffic and the ground truth joined to it.

`config` reads the capture settings from the environment, `store` lays out and reads the
Parquet partitions (`<capture_uri>/<model>/date=YYYY-MM-DD/hour=HH/<uuid>.parquet`, labels under
`<capture_uri>/<model>/feedback/`), `recorder` is the model server's bounded, batched, off-thread
writer, and `feedback` records labels keyed by request id. Imports no MLflow, no KFP, no serving.
"""
