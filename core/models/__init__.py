"""Which model: the bundled one, choosing and checking a GGUF, scanning folders, the catalogue
and downloads.
"""
