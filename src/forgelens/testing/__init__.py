"""Test helpers that ship with forgelens (the simulated forge)."""
