"""What a live environment needs to rebuild a host: the tools, their packages, the firmware."""
