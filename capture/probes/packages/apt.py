"""dpkg/apt probe: installed packages, the manual set, holds, sources, keys and pins.

Four processes (``dpkg-query -W``, ``apt-mark showmanual``, ``dpkg
--print-architecture``, ``dpkg --print-foreign-architectures``), plus
``gzip -dc`` of the installer's package list when the host still has it.
Sources and pinning files are read as files; key files are reduced to their
fingerprints in-process (see packages_openpgp).  A key file a package installs
names that package (it comes back with it); any other one, a third-party
repository's, also keeps its public key material, ASCII-armored (a public key
is not a secret, and a reinstall must trust the repository again).
Sources lose their secrets field by field (see apt_secrets), in the manifest
and in recordings alike.

apt's configuration directory is ``/etc/apt`` unless the ``apt_etc`` option
names another one (apt's ``Dir::Etc``: a mounted system image, a test tree);
the directory used is recorded, so a replay reads the same paths.
"""

from __future__ import annotations

import re
from typing import Any

from hostbook.capture.probe import Probe, ProbeContext
from hostbook.capture.probes.host_root import described, host_root, on_host, root_args
from hostbook.capture.probes.packages.apt_secrets import (
    LIST_FIELDS,
    clean_option,
    mask_deb822,
    mask_one_line,
    split_one_line,
)
from hostbook.capture.probes.packages.openpgp import (
    file_fingerprints,
    file_public_material,
    key_owners,
)
from hostbook.capture.redact import redact_url

DPKG_FORMAT = "${db:Status-Abbrev}\\t${Package}\\t${Architecture}\\t${Version}\\t${Priority}\\n"
APT_ETC = "/etc/apt"
SOURCES_LIST = "sources.list"
SOURCES_DIR = "sources.list.d"
TRUSTED_DIR = "trusted.gpg.d"
TRUSTED_LEGACY = "trusted.gpg"
PREFERENCES = "preferences"
PREFERENCES_DIR = "preferences.d"
INSTALLER_DIR = "/var/log/installer"
INSTALLER_STATUS = "initial-status.gz"
BASE_PRIORITIES = frozenset({"required", "important", "standard"})
# apt reads only files whose names consist of these characters (apt.conf(5)).
_APT_FILE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def package_key(name: str, arch: str, native: str | None) -> str:
    """``name`` for native and arch-independent packages, ``name:arch`` otherwise."""
    return name if arch in ("all", native) or native is None else f"{name}:{arch}"


def parse_dpkg(text: str, native: str | None) -> tuple[dict[str, str], set[str], set[str]]:
    """(versions, held, base-priority names) of installed packages."""
    versions: dict[str, str] = {}
    held: set[str] = set()
    base: set[str] = set()
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) < 5:
            continue
        abbrev, name, arch, version, priority = fields[:5]
        # Status-Abbrev: desired action, then state; "i" state = installed.
        if len(abbrev) < 2 or abbrev[1] != "i":
            continue
        key = package_key(name, arch, native)
        versions[key] = version
        if abbrev[0] == "h":
            held.add(key)
        if priority in BASE_PRIORITIES:
            base.add(key)
    return versions, held, base


def normalize_names(text: str, native: str | None) -> set[str]:
    """apt-mark prints ``name:arch`` for foreign packages only; keep that form."""
    names = set()
    for line in text.split():
        name, _, arch = line.partition(":")
        names.add(name if not arch or arch in ("all", native) else line)
    return names


def parse_initial_status(text: str, native: str | None) -> set[str]:
    """Packages the installer put on the host (dpkg status format)."""
    names: set[str] = set()
    for stanza in re.split(r"\n\s*\n", text):
        fields = _stanza_fields(stanza)
        if "installed" in fields.get("status", "") and fields.get("package"):
            names.add(package_key(fields["package"], fields.get("architecture", "all"), native))
    return names


def _stanza_fields(stanza: str) -> dict[str, str]:
    """Fields of one deb822 stanza (continuation lines joined with newlines)."""
    fields: dict[str, str] = {}
    current: str | None = None
    for line in stanza.splitlines():
        if not line or line.startswith("#"):
            continue
        if line[0] in " \t" and current is not None:
            fields[current] += "\n" + line.strip()
            continue
        key, sep, value = line.partition(":")
        if sep:
            current = key.strip().lower()
            fields[current] = value.strip()
    return fields


def _clean_uris(uris: list[str]) -> tuple[list[str], bool]:
    cleaned: list[str] = []
    hidden = False
    for uri in uris:
        clean, removed = redact_url(uri)
        cleaned.append(clean)
        hidden = hidden or removed
    return cleaned, hidden


def _entry(
    types: list[str],
    uris: list[str],
    suites: list[str],
    components: list[str],
    options: dict[str, str],
) -> dict[str, Any]:
    entry: dict[str, Any] = {"types": types}
    entry["uris"], hidden = _clean_uris(uris)
    entry["suites"] = suites
    entry["components"] = components
    signed = options.pop("signed-by", None)
    if signed is not None:
        entry["signed_by"] = "inline" if "BEGIN PGP" in signed else signed.strip()
    arch = options.pop("architectures", None) or options.pop("arch", None)
    if arch:
        entry["architectures"] = arch.replace(",", " ").split()
    enabled = options.pop("enabled", None)
    if enabled is not None and enabled.strip().lower() in ("no", "false", "0"):
        entry["enabled"] = False
    if options:
        kept: dict[str, str] = {}
        for key, value in sorted(options.items()):
            kept[key], withheld = clean_option(key, value)
            hidden = hidden or withheld
        entry["options"] = kept
    if hidden:
        entry["credentials_redacted"] = True
    return entry


def parse_deb822_sources(text: str) -> list[dict[str, Any]]:
    """Entries of a ``.sources`` file."""
    entries = []
    for stanza in re.split(r"\n[ \t]*\n", text):
        fields = _stanza_fields(stanza)
        if not fields.get("types") or not fields.get("uris"):
            continue
        options = {k: v for k, v in fields.items() if k not in LIST_FIELDS}
        entries.append(
            _entry(
                fields["types"].split(),
                fields["uris"].split(),
                fields.get("suites", "").split(),
                fields.get("components", "").split(),
                options,
            )
        )
    return entries


def parse_one_line_sources(text: str) -> list[dict[str, Any]]:
    """Entries of a ``.list`` file: ``deb [opt=val ...] uri suite [component ...]``."""
    entries = []
    for raw in text.splitlines():
        parsed = split_one_line(raw.split("#", 1)[0])
        if parsed is None:
            continue
        kind, items, words = parsed
        options: dict[str, str] = {}
        for item in items:
            key, _, value = item.partition("=")
            options[key.strip().lower()] = value
        if len(words) < 2:
            continue
        entries.append(_entry([kind], [words[0]], [words[1]], words[2:], options))
    return entries


def parse_preferences(text: str) -> list[dict[str, Any]]:
    """Pinning stanzas, in file order."""
    stanzas = []
    for block in re.split(r"\n[ \t]*\n", text):
        fields = _stanza_fields(block)
        if "package" not in fields or "pin" not in fields:
            continue
        try:
            priority = int(fields.get("pin-priority", "0"))
        except ValueError:
            continue
        stanza: dict[str, Any] = {
            "packages": fields["package"].split(),
            "pin": fields["pin"],
            "priority": priority,
        }
        if fields.get("explanation"):
            stanza["explanation"] = fields["explanation"]
        stanzas.append(stanza)
    return stanzas


def apt_etc(ctx: ProbeContext) -> str:
    """apt's configuration directory for this capture (recorded, see the docstring)."""
    default = on_host(host_root(ctx), APT_ETC)
    chosen = ctx.runner.value("apt.etc", lambda: str(ctx.options.get("apt_etc") or default))
    return str(chosen or APT_ETC).rstrip("/") or "/"


def _dir_files(ctx: ProbeContext, directory: str, suffixes: tuple[str, ...]) -> list[str]:
    names = ctx.runner.list_dir(directory) or []
    return [
        f"{directory}/{name}"
        for name in names
        if _APT_FILE_NAME.match(name) and (not suffixes or name.endswith(suffixes))
    ]


def collect_sources(ctx: ProbeContext) -> list[dict[str, Any]]:
    """Every sources file apt reads, in apt's order (sources.list, then the directory)."""
    files = []
    etc = apt_etc(ctx)
    paths = [f"{etc}/{SOURCES_LIST}", *_dir_files(ctx, f"{etc}/{SOURCES_DIR}",
                                                  (".list", ".sources"))]
    for path in paths:
        deb822 = path.endswith(".sources")
        text = ctx.runner.read_file(path, mask=mask_deb822 if deb822 else mask_one_line)
        if text is None:
            continue
        shown = described(host_root(ctx), path)
        if deb822:
            files.append({"path": shown, "format": "deb822", "entries": parse_deb822_sources(text)})
        else:
            files.append(
                {"path": shown, "format": "one-line", "entries": parse_one_line_sources(text)}
            )
    return files


def collect_keys(ctx: ProbeContext, sources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fingerprints of every key file the sources name, plus the globally trusted ones."""
    paths: set[str] = set()
    etc = apt_etc(ctx)
    if TRUSTED_LEGACY in (ctx.runner.list_dir(etc) or []):
        paths.add(f"{etc}/{TRUSTED_LEGACY}")
    paths.update(_dir_files(ctx, f"{etc}/{TRUSTED_DIR}", (".gpg", ".asc")))
    for source in sources:
        for entry in source["entries"]:
            signed = entry.get("signed_by")
            if signed and signed != "inline":
                # Signed-By may list several files or fingerprints.
                paths.update(p for p in signed.replace(",", " ").split() if p.startswith("/"))
    keys = []
    root = host_root(ctx)
    wanted = sorted({described(root, p) for p in paths})
    info_dir = on_host(root, "/var/lib/dpkg/info")
    owners = ctx.runner.value("apt.key_owners", lambda: key_owners(wanted, info_dir))
    for path in wanted:
        on_disk = on_host(root, path)
        value = ctx.runner.value(
            f"openpgp.fingerprints:{on_disk}", lambda p=on_disk: file_fingerprints(p)
        )
        record: dict[str, Any] = {"path": path}
        if isinstance(value, dict) and "fingerprints" in value:
            record["fingerprints"] = list(value["fingerprints"])
        else:
            error = value.get("error") if isinstance(value, dict) else "not recorded"
            record["error"] = str(error)
        # Recordings made before key material was kept hold no owners: nothing is added.
        if isinstance(owners, dict) and "error" not in record:
            if path in owners:
                record["package"] = owners[path]
            else:
                material = ctx.runner.value(
                    f"openpgp.material:{on_disk}", lambda p=on_disk: file_public_material(p))
                if isinstance(material, dict) and "armored" in material:
                    record["material"] = material["armored"]
        keys.append(record)
    return keys


def collect_pins(ctx: ProbeContext) -> list[dict[str, Any]]:
    """apt preferences files and their stanzas."""
    pins = []
    etc = apt_etc(ctx)
    names = _dir_files(ctx, f"{etc}/{PREFERENCES_DIR}", ())
    candidates = [f"{etc}/{PREFERENCES}"] + [
        p for p in names if "." not in p.rsplit("/", 1)[1] or p.endswith(".pref")
    ]
    for path in candidates:
        text = ctx.runner.read_file(path)
        if text is None:
            continue
        pins.append({"path": described(host_root(ctx), path),
                     "stanzas": parse_preferences(text)})
    return pins


def _first_line(text: str) -> str | None:
    lines = text.strip().splitlines()
    return lines[0].strip() if lines else None


def collect(ctx: ProbeContext, doc: dict[str, Any]) -> None:
    root = host_root(ctx)
    listing = ctx.runner.query(["dpkg-query", *root_args(root, "--root"), "-W",
                                f"-f={DPKG_FORMAT}"])
    if listing.missing:
        return  # not a dpkg host
    if not listing.ok:
        ctx.mark_incomplete("apt", listing.failure())
        return
    apt: dict[str, Any] = {}
    dpkg = ["dpkg", *root_args(root, "--root")]
    arch = ctx.run_ok([*dpkg, "--print-architecture"], "apt.architecture")
    native = _first_line(arch.stdout) if arch else None
    apt["architecture"] = native
    foreign = ctx.run_ok([*dpkg, "--print-foreign-architectures"],
                         "apt.foreign_architectures")
    apt["foreign_architectures"] = sorted(foreign.stdout.split()) if foreign else []

    versions, held, base = parse_dpkg(listing.stdout, native)
    marked = ctx.run_ok(["apt-mark", *root_args(root, "-oDir"), "showmanual"], "apt.manual")
    manual = normalize_names(marked.stdout, native) & set(versions) if marked else set()
    apt["manual"] = sorted(manual)
    apt["auto"] = sorted(set(versions) - manual) if marked else []
    apt["held"] = sorted(held)

    installer = ctx.runner.list_dir(on_host(root, INSTALLER_DIR)) or []
    initial = None
    if INSTALLER_STATUS in installer:
        unpacked = ctx.run_ok(["gzip", "-dc", on_host(root, f"{INSTALLER_DIR}/{INSTALLER_STATUS}")],
                              "apt.beyond_base")
        if unpacked is not None:
            initial = parse_initial_status(unpacked.stdout, native)
    if initial is not None:
        apt["base_from"] = "installer-log"
        apt["beyond_base"] = sorted(manual - initial)
    else:
        apt["base_from"] = "priority"
        apt["beyond_base"] = sorted(manual - base)
    apt["versions"] = dict(sorted(versions.items()))
    apt["sources"] = collect_sources(ctx)
    apt["keys"] = collect_keys(ctx, apt["sources"])
    apt["pins"] = collect_pins(ctx)
    doc["apt"] = apt


PROBE = Probe(
    name="packages.apt",
    section="packages",
    commands=("dpkg-query", "dpkg", "apt-mark", "gzip"),
    collect=collect,
    description="dpkg packages with versions, apt-mark manual/auto, holds, foreign "
    "architectures, apt sources with key fingerprints, pinning, packages beyond the base",
)
