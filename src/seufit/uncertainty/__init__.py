"""Uncertainty of the fitted parameters: one module per method, each with its own result."""
