"""Data sources, the prepared set and torch datasets over it."""
