"""Small helpers shared by every layer (standard library only)."""
