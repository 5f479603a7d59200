"""The update client: verify, apply atomically, roll back."""
