#!/usr/bin/env python3
"""Writes an OCI image archive (an OCI image layout in a tar, as `skopeo copy oci-archive:...`
and `podman load` read it) holding one statically linked binary, without Docker.

    scripts/image.py --binary target/x86_64-unknown-linux-gnu/release/controlhub-operator \
        --version 0.1.0 --source https://git.example.com/controlhub-operator \
        --out target/image/controlhub-operator.oci.tar

The image: one gzip layer with the binary at /controlhub-operator (mode 0755, owned by root),
entrypoint ["/controlhub-operator"], cmd ["run"], user 65532:65532, ports 8080 and 8081, OCI
labels title/description/version/source/licenses (also as manifest annotations). The output is
reproducible: every timestamp is SOURCE_DATE_EPOCH (default 0), owners are 0, order is fixed.
Standard library only. Refuses a binary that has an ELF interpreter (PT_INTERP): on an empty
base image a dynamically linked binary fails with "no such file or directory".
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import pathlib
import struct
import sys
import tarfile
import time

BINARY_PATH = "controlhub-operator"
PT_INTERP = 3


def elf_interpreter(data: bytes):
    """The PT_INTERP path of a 64-bit little-endian ELF file, or None when it has none."""
    if data[:4] != b"\x7fELF":
        raise SystemExit("not an ELF file")
    if data[4] != 2 or data[5] != 1:
        raise SystemExit("not a 64-bit little-endian ELF file")
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        p_type, _flags, p_offset = struct.unpack_from("<IIQ", data, phoff + i * phentsize)
        if p_type == PT_INTERP:
            (p_filesz,) = struct.unpack_from("<Q", data, phoff + i * phentsize + 0x20)
            return data[p_offset : p_offset + p_filesz].rstrip(b"\0").decode()
    return None


def tar_bytes(entries, mtime: int) -> bytes:
    """A tar (PAX) of (name, bytes or None for a directory, mode) entries in the given order, owners 0, fixed mtime."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content, mode in entries:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type = tarfile.DIRTYPE
            else:
                info.size = len(content)
            info.mode = mode
            info.mtime = mtime
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, None if content is None else io.BytesIO(content))
    return out.getvalue()


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True, type=pathlib.Path)
    parser.add_argument("--version", required=True)
    parser.add_argument("--source", required=True, help="org.opencontainers.image.source (a URL)")
    parser.add_argument("--out", required=True, type=pathlib.Path)
    parser.add_argument("--revision", default="", help="org.opencontainers.image.revision (a commit)")
    args = parser.parse_args()

    binary = args.binary.read_bytes()
    interpreter = elf_interpreter(binary)
    if interpreter is not None:
        raise SystemExit(
            f"{args.binary} is dynamically linked (interpreter {interpreter}); build it statically"
        )
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))

    layer_tar = tar_bytes([(BINARY_PATH, binary, 0o755)], epoch)
    layer = gzip.compress(layer_tar, compresslevel=9, mtime=0)

    labels = {
        "org.opencontainers.image.title": "controlhub-operator",
        "org.opencontainers.image.description": "Kubernetes operator for StreamSets Control Hub API credentials",
        "org.opencontainers.image.version": args.version,
        "org.opencontainers.image.source": args.source,
        "org.opencontainers.image.licenses": "Apache-2.0",
        "org.opencontainers.image.created": created,
    }
    if args.revision:
        labels["org.opencontainers.image.revision"] = args.revision
    config = canonical(
        {
            "created": created,
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "User": "65532:65532",
                "Entrypoint": ["/" + BINARY_PATH],
                "Cmd": ["run"],
                "ExposedPorts": {"8080/tcp": {}, "8081/tcp": {}},
                "Labels": labels,
            },
            "rootfs": {"type": "layers", "diff_ids": [digest(layer_tar)]},
            "history": [{"created": created, "created_by": "scripts/image.py: /" + BINARY_PATH}],
        }
    )
    manifest = canonical(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": digest(layer),
                    "size": len(layer),
                }
            ],
            "annotations": labels,
        }
    )
    index = canonical(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": digest(manifest),
                    "size": len(manifest),
                    "platform": {"architecture": "amd64", "os": "linux"},
                    "annotations": {"org.opencontainers.image.ref.name": args.version},
                }
            ],
        }
    )
    entries = [("oci-layout", canonical({"imageLayoutVersion": "1.0.0"}), 0o644), ("index.json", index, 0o644)]
    entries += [("blobs", None, 0o755), ("blobs/sha256", None, 0o755)]
    for blob in (config, layer, manifest):
        entries.append(("blobs/sha256/" + hashlib.sha256(blob).hexdigest(), blob, 0o644))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_bytes(tar_bytes(entries, epoch))
    tmp.replace(args.out)
    print(f"{args.out}: {digest(manifest)} ({len(layer)} bytes compressed)", file=sys.stderr)


if __name__ == "__main__":
    main()
