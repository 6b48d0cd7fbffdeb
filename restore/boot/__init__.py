"""The boot phase of a rebuild: system files, initramfs and bootloader in the restored tree."""
