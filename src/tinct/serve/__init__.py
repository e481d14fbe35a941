"""tinct.serve."""
