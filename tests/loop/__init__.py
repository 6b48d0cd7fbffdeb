"""Loop-device tier: real block devices over sparse files we create (root only)."""
