"""`hostbook serve`: the live dashboard and the JSON API."""

from __future__ import annotations

from pathlib import Path

import click

from hostbook.commands.common import handle_errors, repo_option, resolve_repo


@click.command()
@repo_option
@click.option("--listen", default="127.0.0.1:8765", show_default=True, metavar="ADDR:PORT",
              help="Address and port; one that is not loopback needs --tls-cert and --tls-key.")
@click.option("--token-file", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="The bearer token changes need (default /etc/hostbook/serve.token; made "
              "on first start, mode 0600).")
@click.option("--tls-cert", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="TLS certificate (PEM).")
@click.option("--tls-key", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="TLS private key (PEM).")
@click.option("--allow-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="Another name the server answers for in the Host header (repeatable).")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Run state directory (default: each host's settings.state_dir or "
              "/var/lib/hostbook/state).")
@click.option("--write-burst", type=click.IntRange(1, 10000), default=20, show_default=True,
              help="Changes one client address may make at once; then 1 per second.")
@click.option("--read-rate", type=click.IntRange(1, 100000), default=500, show_default=True,
              help="Reads per second one client address may make (twice that at once).")
@handle_errors
def serve(repo: Path | None, listen: str, token_file: Path | None, tls_cert: Path | None,
          tls_key: Path | None, allowed_hosts: tuple[str, ...], state_dir: Path | None,
          write_burst: int, read_rate: int) -> None:
    """Serve the dashboard (hosts, readiness, jobs, plans, the run in progress, run history)
    and the JSON API.

    Reading needs nothing; every request that changes something (POST .../snapshot,
    POST .../run) needs 'Authorization: Bearer TOKEN' with the token file's content.
    Refused at start (exit 2): a non-loopback --listen without TLS, a token file others
    can read, a missing repository.
    """
    from hostbook.serve.config import Limits
    from hostbook.serve.server import prepare
    from hostbook.serve.server import serve as run_server

    limits = Limits(read_rate=float(read_rate), read_burst=2 * read_rate,
                    write_burst=write_burst)
    config = prepare(listen, resolve_repo(repo), token_file=token_file, state_dir=state_dir,
                     tls_cert=tls_cert, tls_key=tls_key, allowed_hosts=allowed_hosts,
                     limits=limits)
    run_server(config)
