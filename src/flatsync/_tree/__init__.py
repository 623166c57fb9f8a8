"""Layer 1: values, errors, events, markers and the protocol tree algebra (no handlers)."""
