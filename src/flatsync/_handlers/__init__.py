"""Layer 2: the tracked containers (handlers) and the contract they share."""
