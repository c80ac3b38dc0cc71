"""One module per outside system, each implementing one domain port."""
