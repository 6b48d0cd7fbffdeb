"""Third-party repository keys: their public material is kept, a package's keys name it."""

from __future__ import annotations

from hostbook.capture.probes.packages.openpgp import dearmor, fingerprints
from tests.reinstall_fixtures import OLD_TREE, replay_section


def test_a_third_party_key_keeps_its_material_and_a_packaged_one_its_package() -> None:
    doc, ctx = replay_section(OLD_TREE, "packages")
    assert not ctx.incomplete
    keys = {k["path"]: k for k in doc["apt"]["keys"]}
    third = keys["/etc/apt/keyrings/hostbook-test.asc"]
    assert "package" not in third
    # the armored material is the key itself: its fingerprint is the recorded one
    assert fingerprints(dearmor(third["material"].encode())) == third["fingerprints"]
    debian = keys["/etc/apt/trusted.gpg.d/debian-archive-bookworm-stable.asc"]
    assert debian["package"] == "debian-archive-keyring" and "material" not in debian
    sources = {s["path"]: s for s in doc["apt"]["sources"]}
    # paths are the described system's, not the tree's on this machine
    assert sources["/etc/apt/sources.list.d/hostbook-test.sources"]["entries"][0][
        "signed_by"] == "/etc/apt/keyrings/hostbook-test.asc"
    assert "hostbook-hello" in doc["apt"]["manual"]


def test_a_secret_key_file_is_never_kept(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from hostbook.capture.probes.packages.openpgp import file_public_material

    # a secret-key packet (tag 5, old format) heading the file
    (tmp_path / "secret.gpg").write_bytes(bytes([0x80 | (5 << 2), 3, 4, 0, 0]))
    assert "error" in file_public_material(str(tmp_path / "secret.gpg"))
