"""Documents into archival memory: opening PDFs and text files, and ingesting them."""
