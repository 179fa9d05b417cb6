"""Pure ML logic, no I/O: schema, task kinds, validation, estimators, training, metrics, the gate."""
