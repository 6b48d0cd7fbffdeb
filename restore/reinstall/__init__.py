"""``hostbook reinstall``: bring a host's captured intent onto a freshly installed system.

Not bytes but what the host *is*: the packages a person chose (simulated by
the package manager first), third-party sources with their keys, the
configuration they changed (three-way against the old and new package
defaults), accounts (never a hash), services, checkouts to clone, and the
data volumes restore.yaml names.  ``facts`` asks the new system what it has
(queries only, recorded and replayed in tests); the per-section planners are
pure; ``plan`` puts them together into steps and one report of three lists:
carried over, adapted, could not map; ``apply`` runs the steps journaled.
"""
