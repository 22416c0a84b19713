#!/usr/bin/env python3
"""Regenerates the device-tree blobs in this folder (not run by the tests).

qemu-*.dtb    : the tree QEMU builds for skiboot, saved with the HMP command
                `dumpdtb` after machine reset (`-M ...,dumpdtb=` does not work
                for powernv in QEMU 10: the FDT is only built at reset).
skiboot-*.dtb : the tree skiboot hands the kernel. We boot skiboot with a
                4-byte "kernel" (`b .`, raw, big-endian), wait until a vCPU's
                NIP is 0x20000000, read r3 (the FDT address) with
                `info registers -a`, and save `totalsize` bytes from there
                with `pmemsave`. The address is printed; the tests use it as
                blob_addr.

Needs qemu-system-ppc64 (10.x) with its skiboot.lid. Usage: ./regen.py [outdir]
"""
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

QEMU = "qemu-system-ppc64"
TOPOLOGIES = {
    "p9-smp4": ("powernv9", "power9", "4"),
    "p9-c2t4": ("powernv9", "power9", "8,cores=2,threads=4"),
    "p9-2chip": ("powernv9", "power9", "8,sockets=2,cores=1,threads=4"),
    "p10-c2t4": ("powernv10", "power10", "8,cores=2,threads=4"),
    "p10-2chip": ("powernv10", "power10", "8,sockets=2,cores=2,threads=2"),
}
SKIBOOT = ["p9-smp4", "p9-2chip", "p10-2chip"]


def base_args(machine, cpu, smp):
    return [QEMU, "-M", machine, "-cpu", cpu, "-m", "2G", "-smp", smp, "-display", "none"]


def qemu_dump(name, outdir):
    """Saves QEMU's own tree for topology `name`."""
    path = os.path.join(outdir, f"qemu-{name}.dtb")
    cmds = f'dumpdtb "{path}"\nquit\n'
    args = base_args(*TOPOLOGIES[name]) + ["-S", "-serial", "null", "-monitor", "stdio"]
    subprocess.run(args, input=cmds.encode(), capture_output=True, timeout=60, check=True)
    print(path, os.path.getsize(path))


class Monitor:
    """Talks HMP over a unix socket."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        for _ in range(50):
            try:
                self.sock.connect(path)
                break
            except OSError:
                time.sleep(0.1)
        self.sock.settimeout(0.5)

    def cmd(self, line, wait=1.0):
        self.sock.sendall((line + "\n").encode())
        time.sleep(wait)
        out = b""
        try:
            while True:
                data = self.sock.recv(1 << 20)
                if not data:
                    break
                out += data
        except socket.timeout:
            pass
        return out.decode(errors="replace")


def fdt_address(mon):
    """r3 of the vCPU sitting at the kernel entry, or None."""
    out = mon.cmd("info registers -a", 2.0)
    for block in re.split(r"(?=NIP )", out):
        nip = re.match(r"NIP ([0-9a-f]+)", block)
        if not nip or int(nip.group(1), 16) != 0x20000000:
            continue
        gprs = {}
        for first, rest in re.findall(r"GPR(\d\d)\s+((?:[0-9a-f]{16}\s*)+)", block):
            for i, v in enumerate(rest.split()):
                gprs[int(first) + i] = int(v, 16)
        return gprs.get(3)
    return None


def skiboot_dump(name, outdir, tmp):
    """Boots skiboot for topology `name` and saves the tree it passes on."""
    kernel = os.path.join(tmp, "loop.bin")
    with open(kernel, "wb") as f:
        f.write(bytes([0x48, 0, 0, 0]) + bytes(60))
    sock = os.path.join(tmp, f"{name}.sock")
    args = base_args(*TOPOLOGIES[name]) + [
        "-serial", "null", "-monitor", f"unix:{sock},server,nowait", "-kernel", kernel]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        mon = Monitor(sock)
        addr = None
        deadline = time.time() + 300
        while addr is None and time.time() < deadline:
            time.sleep(3)
            addr = fdt_address(mon)
        if addr is None:
            raise SystemExit(f"{name}: skiboot never reached the kernel")
        head = os.path.join(tmp, f"{name}.head")
        mon.cmd(f'pmemsave {addr:#x} 64 "{head}"')
        with open(head, "rb") as f:
            total = int.from_bytes(f.read()[4:8], "big")
        path = os.path.join(outdir, f"skiboot-{name}.dtb")
        mon.cmd(f'pmemsave {addr:#x} {total} "{path}"')
        mon.cmd("quit")
        print(path, total, f"blob_addr={addr:#x}")
    finally:
        proc.wait(timeout=30)


def main():
    outdir = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(__file__))
    for name in TOPOLOGIES:
        qemu_dump(name, outdir)
    with tempfile.TemporaryDirectory() as tmp:
        for name in SKIBOOT:
            skiboot_dump(name, outdir, tmp)


if __name__ == "__main__":
    main()
