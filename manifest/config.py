"""Loading the capture configuration file."""

from __future__ import annotations

import os
from pathlib import Path

from hostbook.manifest.sections.config import ConfigDocument
from hostbook.manifest.validate import validate_as
from hostbook.manifest.yamlio import read_document

SYSTEM_CONFIG = Path("/etc/hostbook/config.yaml")


def config_path() -> Path:
    """$HOSTBOOK_CONFIG, else the system-wide file."""
    env = os.environ.get("HOSTBOOK_CONFIG")
    return Path(env) if env else SYSTEM_CONFIG


def load_config(path: Path | None = None) -> ConfigDocument:
    """The validated configuration; defaults when the file does not exist."""
    path = path or config_path()
    data = read_document(path)
    if data is None:
        return ConfigDocument.model_validate({"schema": ConfigDocument.schema_string()})
    return validate_as(ConfigDocument, data, str(path))
