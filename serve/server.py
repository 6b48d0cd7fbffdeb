"""Starting the server: checks first, then uvicorn on the one address given.

Everything that can be refused is refused before the socket is bound:
the address (loopback unless TLS), the TLS files, the token file (made on
first start, 0600, refused when anyone else can read it) and the
repository.  uvicorn serves the application with one worker (the pages are
cheap, and one process keeps the list of runs it started), its access log
off (URLs would be all it could say, and the API takes no secrets in them).
"""

from __future__ import annotations

from pathlib import Path

from hostbook.manifest.store import ManifestRepository
from hostbook.serve.config import (
    DEFAULT_TOKEN_FILE,
    Limits,
    ServeConfig,
    check_exposure,
    load_token,
    parse_listen,
)


def prepare(listen: str, repository: Path, *, token_file: Path | None = None,
            state_dir: Path | None = None, tls_cert: Path | None = None,
            tls_key: Path | None = None, allowed_hosts: tuple[str, ...] = (),
            limits: Limits | None = None) -> ServeConfig:
    """A checked configuration (exit 2 on anything wrong, nothing listening yet)."""
    host, port = parse_listen(listen)
    check_exposure(host, tls_cert, tls_key)
    ManifestRepository.open(repository)
    token = load_token(token_file or DEFAULT_TOKEN_FILE)
    return ServeConfig(host=host, port=port, repository=repository, token=token,
                       state_dir=state_dir, tls_cert=tls_cert, tls_key=tls_key,
                       limits=limits or Limits(), allowed_hosts=allowed_hosts)


def serve(config: ServeConfig, announce: bool = True) -> None:
    """Serve until SIGINT or SIGTERM."""
    import uvicorn

    from hostbook.serve.app import create_app

    if announce:
        print(f"hostbook serve: listening on {config.url}", flush=True)
    uvicorn.run(
        create_app(config), host=config.host, port=config.port, log_level="warning",
        access_log=False, server_header=False, proxy_headers=False, workers=None,
        ssl_certfile=str(config.tls_cert) if config.tls_cert else None,
        ssl_keyfile=str(config.tls_key) if config.tls_key else None,
        limit_concurrency=500, timeout_keep_alive=30, lifespan="off",
    )
