"""Layer 4: sessions without I/O: frames, the publisher, the replica, views."""
