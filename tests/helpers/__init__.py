"""Slow, loop-based reference implementations that the vectorised code is tested against."""
