"""The laptop of the rebuild proof: a real Debian on UEFI, LUKS2 -> LVM, and its backups.

One disk, GPT: ESP (vfat), /boot (ext4), LUKS2 holding LVM (root ext4, swap,
home xfs).  The root is unlocked at boot by a key file the initramfs carries
(cryptsetup-initramfs' KEYFILE_PATTERN).  The backup disk (ext4, label
``backup``) holds everything a rebuild needs that is not on the laptop: the
manifest repository, jobs.yaml's state (run history, integrity databases),
the restic, borg and tar archives, and the archives' password file.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from tests.lab.installed import GRUB_SERIAL_DEFAULTS, install_hostbook_script, marker_files

LUKS_PASSPHRASE = "laptop-rebuild-passphrase"
ARCHIVE_PASSWORD = "archive-password"
HOST = "hostbook-lab"
BACKUP = "/srv/backup"
REPO = f"{BACKUP}/manifests"

JOBS = f"""schema: hostbook/jobs/v1
settings:
  state_dir: {BACKUP}/state
  sure_store: {BACKUP}/sure
jobs:
  - name: root
    volume: {{lv: laptopvg/root}}
    snapshot: {{provider: lvm, size: 400M}}
    archive:
      - {{tool: restic, repository: {BACKUP}/restic, password_file: {BACKUP}/archive.pass,
         init: true}}
  - name: boot
    volume: {{path: /boot}}
    snapshot: {{provider: none}}
    archive: [{{tool: tar, destination: {BACKUP}/tar/boot}}]
  - name: esp
    volume: {{path: /boot/efi}}
    snapshot: {{provider: none}}
    archive: [{{tool: tar, destination: {BACKUP}/tar/esp}}]
  - name: home
    volume: {{lv: laptopvg/home}}
    snapshot: {{provider: lvm, size: 100M}}
    archive:
      - {{tool: borg, repository: {BACKUP}/borg, password_file: {BACKUP}/archive.pass,
         init: true, encryption: repokey-blake2}}
"""

RESTORE = """schema: hostbook/restore/v1
# The backup disk is not the laptop's: it is never rebuilt; sys1, blank while the laptop
# was captured, is the disk it is rebuilt onto (--map sys0=...sys1).
skip: [disk:virtio-backup0, disk:virtio-sys1]
"""

# Files written before the backup; the restored system's marker checks them.
CHECKED = ("root/data/random.bin", "home/user/notes.txt", "etc/hostbook-lab/hello",
           "boot/hostbook-boot.txt", "boot/efi/hostbook-esp.txt")

CAPTURE_AND_RUN = f"""# The installed laptop, booted from its disk: capture it, then run its jobs.
if mountpoint -q {BACKUP}; then
    export HOSTBOOK_REPO={REPO}
    hostbook capture > {BACKUP}/capture.log 2>&1; say "capture $?"
    mkdir -p {REPO}/hosts/{HOST}
    cp /etc/hostbook-lab/jobs.yaml /etc/hostbook-lab/restore.yaml {REPO}/hosts/{HOST}/
    hostbook commit {HOST} > {BACKUP}/commit.log 2>&1; say "commit $?"
    hostbook run > {BACKUP}/run.log 2>&1; say "run $?"
    sync
fi
"""


def install_script(image: Path, wheels: Path) -> str:
    """Bash for a lab guest booted with OVMF: the laptop on disk sys0, the backup disk."""
    q = shlex.quote
    luks = "--type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 --batch-mode"
    return f"""
set -euo pipefail
disk=$(readlink -f /dev/disk/by-id/virtio-sys0)
backup=$(readlink -f /dev/disk/by-id/virtio-backup0)
sfdisk -q "$disk" <<'EOF'
label: gpt
size=200MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=esp
size=300MiB, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=boot
type=CA7D7CCB-63ED-4C53-861C-1742536059CC, name=crypt
EOF
udevadm settle
printf %s {q(LUKS_PASSPHRASE)} | cryptsetup luksFormat {luks} --key-file=- "${{disk}}3"
printf %s {q(LUKS_PASSPHRASE)} | cryptsetup open --key-file=- "${{disk}}3" laptop_crypt
pvcreate -q /dev/mapper/laptop_crypt
vgcreate -q laptopvg /dev/mapper/laptop_crypt
lvcreate -q -y -L 1800M -n root laptopvg
lvcreate -q -y -L 64M -n swap laptopvg
lvcreate -q -y -L 320M -n home laptopvg
udevadm settle
mkfs.vfat -n ESP "${{disk}}1" > /dev/null
mkfs.ext4 -q -L boot "${{disk}}2"
mkfs.ext4 -q -L root /dev/laptopvg/root
mkfs.xfs -q -L home /dev/laptopvg/home
mkswap -q -L swap /dev/laptopvg/swap
mkfs.ext4 -q -L backup "$backup"
target=/mnt/target
mkdir -p "$target" && mount /dev/laptopvg/root "$target"
mkdir -p "$target/boot" "$target/home" && mount "${{disk}}2" "$target/boot"
mount /dev/laptopvg/home "$target/home"
mkdir -p "$target/boot/efi" && mount "${{disk}}1" "$target/boot/efi"
tar -xpf {q(str(image))} -C "$target" --numeric-owner
uuid() {{ blkid -s UUID -o value "$1"; }}
cat > "$target/etc/fstab" <<EOF
UUID=$(uuid /dev/laptopvg/root) / ext4 errors=remount-ro 0 1
UUID=$(uuid "${{disk}}2") /boot ext4 defaults 0 2
UUID=$(uuid "${{disk}}1") /boot/efi vfat umask=0077 0 1
UUID=$(uuid /dev/laptopvg/home) /home xfs defaults 0 2
/dev/mapper/laptopvg-swap none swap sw 0 0
LABEL=backup {BACKUP} ext4 defaults,nofail 0 2
EOF
mkdir -p "$target{BACKUP}"
install -d -m 0700 "$target/etc/cryptsetup-keys.d"
key="$target/etc/cryptsetup-keys.d/laptop_crypt.key"
dd if=/dev/urandom of="$key" bs=4096 count=1 status=none && chmod 0400 "$key"
printf %s {q(LUKS_PASSPHRASE)} | cryptsetup luksAddKey {luks.replace("--type luks2 ", "")} \\
    --key-file=- "${{disk}}3" "$key"
keyfile=/etc/cryptsetup-keys.d/laptop_crypt.key
echo "laptop_crypt UUID=$(uuid "${{disk}}3") $keyfile luks,discard" > "$target/etc/crypttab"
echo 'KEYFILE_PATTERN="/etc/cryptsetup-keys.d/*.key"' \\
    >> "$target/etc/cryptsetup-initramfs/conf-hook"
echo UMASK=0077 >> "$target/etc/initramfs-tools/initramfs.conf"
{marker_files('"$target"')}
cat >> "$target/etc/default/grub" <<'EOF'
{GRUB_SERIAL_DEFAULTS}EOF
mkdir -p "$target/etc/hostbook-lab" "$target/root/data" "$target/home/user"
cat > "$target/etc/hostbook-lab/jobs.yaml" <<'EOF'
{JOBS}EOF
cat > "$target/etc/hostbook-lab/restore.yaml" <<'EOF'
{RESTORE}EOF
cat > "$target/etc/hostbook-lab/extra.sh" <<'EOF'
{CAPTURE_AND_RUN}EOF
head -c 2097152 /dev/urandom > "$target/root/data/random.bin"
echo "written before the backup" > "$target/home/user/notes.txt"
echo hello > "$target/etc/hostbook-lab/hello"
echo "on /boot" > "$target/boot/hostbook-boot.txt"
echo "on the ESP" > "$target/boot/efi/hostbook-esp.txt"
(cd "$target" && sha256sum {" ".join(CHECKED)}) > "$target/etc/hostbook-lab/checksums"
mkdir -p /srv/backup-install && mount "$backup" /srv/backup-install
printf %s {q(ARCHIVE_PASSWORD)} > /srv/backup-install/archive.pass
chmod 0600 /srv/backup-install/archive.pass
umount /srv/backup-install
mountpoint -q /sys/firmware/efi/efivars || mount -t efivarfs efivarfs /sys/firmware/efi/efivars
for fs in dev proc sys run; do mount --rbind "/$fs" "$target/$fs"; done
chroot "$target" update-initramfs -u -k all
chroot "$target" grub-install --target=x86_64-efi --efi-directory=/boot/efi \\
    --bootloader-id=debian --no-nvram
chroot "$target" efibootmgr -q -c -d "$disk" -p 1 -L debian -l '\\EFI\\debian\\grubx64.efi'
chroot "$target" update-grub
{install_hostbook_script(wheels)}
umount -R "$target"
vgchange -q -an laptopvg
cryptsetup close laptop_crypt
"""


def rebuild_script(single_file: Path, passphrase: Path, maps: str, kill_in_data: bool) -> str:
    """Bash for the live lab guest (OVMF, the backup disk attached): the rebuild through the
    single-file build on the system's own python3, killed with SIGKILL once restic is
    restoring the root when asked, then the same command again."""
    q = shlex.quote
    command = (f"/usr/bin/python3 -I {q(str(single_file))} rebuild {HOST} --repo {REPO} "
               f"{maps} --passphrase-file {q(str(passphrase))} --yes")
    kill = f"""
{command} > "$LAB_RESULTS/first.log" 2>&1 &
pid=$!
for i in $(seq 1200); do
    pgrep -x restic > /dev/null && break
    kill -0 $pid 2> /dev/null || break
    sleep 0.5
done
sleep 3
pgrep -x restic > /dev/null && echo "restic was running" > "$LAB_RESULTS/killed"
kill -9 $pid
wait $pid || true
""" if kill_in_data else ""
    return f"""
set -uo pipefail
mkdir -p {BACKUP} && mount "$(blkid -L backup)" {BACKUP}
mountpoint -q /sys/firmware/efi/efivars || mount -t efivarfs efivarfs /sys/firmware/efi/efivars
{kill}
start=$(date +%s.%N)
{command} > "$LAB_RESULTS/rebuild.log" 2>&1
echo $? > "$LAB_RESULTS/rebuild.rc"
echo "$(date +%s.%N) - $start" | bc > "$LAB_RESULTS/rebuild.seconds"
efibootmgr -v > "$LAB_RESULTS/efibootmgr.txt" 2>&1 || true
cp /var/lib/hostbook/state/restore/{HOST}@rebuild.journal "$LAB_RESULTS/" 2>/dev/null || true
umount {BACKUP}
exit $(cat "$LAB_RESULTS/rebuild.rc")
"""
