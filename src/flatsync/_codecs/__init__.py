"""Layer 3: codecs, which turn protocol trees into bytes and back, within limits."""
