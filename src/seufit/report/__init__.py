"""Reports of seufit results: text, JSON, figures and HTML."""
