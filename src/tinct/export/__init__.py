"""tinct.export."""
