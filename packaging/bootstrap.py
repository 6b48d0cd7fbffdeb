"""Start hostbook from its single-file build (``hostbook-<version>-x86_64``).

The file is a zip application: this module is its ``__main__``.  Python
imports pure modules from a zip, but not compiled ones (pydantic-core,
ruamel.yaml.clib, markupsafe), so the first run unpacks the bundled packages
once, for this interpreter's version, into a cache keyed by the build's id
(``/var/cache/hostbook/single`` for root, ``~/.cache/hostbook/single``
otherwise, or ``$HOSTBOOK_SINGLE_CACHE``); every later run imports from there
as a virtualenv would.  The cache is written beside itself and renamed into
place, so two first runs at once, or a run killed while unpacking, leave
no half-written tree.  Nothing here imports anything outside the standard
library.
"""

import os
import shutil
import sys
import zipfile

SITE = "site/"


def cache_root() -> str:
    given = os.environ.get("HOSTBOOK_SINGLE_CACHE")
    if given:
        return given
    if os.geteuid() == 0:
        return "/var/cache/hostbook/single"
    return os.path.join(os.path.expanduser("~"), ".cache", "hostbook", "single")


def unpack(archive: str, tag: str) -> str:
    """The folder holding the bundled packages for ``tag`` (unpacked on first use)."""
    with zipfile.ZipFile(archive) as bundle:
        build = bundle.read("BUILD_ID").decode().strip()
        dest = os.path.join(cache_root(), build, tag)
        if os.path.isfile(os.path.join(dest, ".complete")):
            return dest
        names = bundle.namelist()
        built = sorted({n.split("/")[1] for n in names if n.startswith(SITE + "cp")})
        if tag not in built:
            sys.exit(f"hostbook: this build has no packages for Python {tag} (built for "
                     f"{', '.join(built)}); run it with one of those, or build it again")
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        temporary = f"{dest}.{os.getpid()}.partial"
        shutil.rmtree(temporary, ignore_errors=True)
        for prefix in (SITE + "common/", f"{SITE}{tag}/"):
            for name in names:
                if name.startswith(prefix) and not name.endswith("/"):
                    path = os.path.join(temporary, name[len(prefix):])
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with bundle.open(name) as source, open(path, "wb") as out:
                        shutil.copyfileobj(source, out)
        open(os.path.join(temporary, ".complete"), "w").close()
        try:
            os.rename(temporary, dest)
        except OSError:  # another first run got there first
            shutil.rmtree(temporary, ignore_errors=True)
        return dest


def main() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - any python3 on PATH may run this file
        sys.exit(f"hostbook: needs Python 3.11 or newer (this is {sys.version.split()[0]})")
    archive = os.path.dirname(os.path.abspath(__file__))
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    folder = unpack(archive, tag)
    sys.path[:] = [folder] + [p for p in sys.path if os.path.abspath(p) != archive]
    from hostbook.cli import main as hostbook_main

    sys.argv[0] = "hostbook"
    hostbook_main()


if __name__ == "__main__":
    main()
