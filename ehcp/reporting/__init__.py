"""Statutory returns built from the case history (pure: no I/O; docs/sen2.md)."""
