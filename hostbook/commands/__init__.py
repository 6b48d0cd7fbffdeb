"""One module per command group; each only parses options and calls the library."""
