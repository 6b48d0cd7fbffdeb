"""Periodic capture and fleets: systemd units, and what a fleet of hosts shares.

May import manifest, process, jobs and templates: it renders units from
templates/, lists a host's jobs, and drives systemctl through the process layer.
"""
