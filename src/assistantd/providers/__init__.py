"""Model backends: the chat provider interface, its implementations, and model routing."""
