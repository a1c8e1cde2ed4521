#!/usr/bin/env python3
"""Turns a root filesystem folder into a Docker image, for any architecture, with `docker load`.

`docker import` would do for this machine's architecture, but Docker Engine 20.10 (Debian 12's) ignores its
--platform and records every imported image as the engine's own architecture: an arm64 root filesystem imported on
an x86 machine would call itself amd64, and a Raspberry Pi would warn about it on every start. So the image is written
here in `docker save`'s format (one layer: the folder as a tar; a config naming the architecture, environment,
labels and command) and handed to `docker load`, which keeps what the config says.

Usage: import-rootfs.py ROOTFS TAG --arch amd64|arm64 [--env K=V]... [--label K=V]... [--cmd JSON]
       [--entrypoint JSON] [--workdir DIR] [--user U] [--comment TEXT]
Standard library only; needs root (the folder holds root-owned files) and the docker CLI.
"""

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from datetime import datetime, timezone


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rootfs")
    parser.add_argument("tag")
    parser.add_argument("--arch", required=True, choices=["amd64", "arm64"])
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("--label", action="append", default=[])
    parser.add_argument("--cmd")
    parser.add_argument("--entrypoint")
    parser.add_argument("--workdir")
    parser.add_argument("--user")
    parser.add_argument("--comment", default="")
    args = parser.parse_args()

    created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/var/tmp")) as tmp:
        layer = os.path.join(tmp, "layer.tar")
        # GNU tar keeps owners, modes, links, device nodes and extended attributes as they are in the folder.
        subprocess.run(
            ["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-C", args.rootfs, "-cf", layer, "."],
            check=True,
        )
        digest = hashlib.sha256()
        with open(layer, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        diff_id = "sha256:" + digest.hexdigest()

        config: dict = {"Env": args.env or None, "Labels": dict(kv.split("=", 1) for kv in args.label) or None}
        if args.cmd:
            config["Cmd"] = json.loads(args.cmd)
        if args.entrypoint:
            config["Entrypoint"] = json.loads(args.entrypoint)
        if args.workdir:
            config["WorkingDir"] = args.workdir
        if args.user:
            config["User"] = args.user
        image = {
            "architecture": args.arch,
            "os": "linux",
            "created": created,
            "config": {k: v for k, v in config.items() if v is not None},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created": created, "comment": args.comment or "root filesystem"}],
        }
        if args.arch == "arm64":
            image["variant"] = "v8"
        config_bytes = json.dumps(image, sort_keys=True).encode()
        config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
        manifest = [{"Config": config_name, "RepoTags": [args.tag], "Layers": [diff_id[7:] + "/layer.tar"]}]

        archive = os.path.join(tmp, "image.tar")
        with tarfile.open(archive, "w", format=tarfile.GNU_FORMAT) as out:
            for name, data in ((config_name, config_bytes), ("manifest.json", json.dumps(manifest).encode())):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mtime = 0
                out.addfile(info, io.BytesIO(data))
            out.add(layer, arcname=diff_id[7:] + "/layer.tar")
        os.unlink(layer)
        with open(archive, "rb") as f:
            loaded = subprocess.run(["docker", "load"], stdin=f, capture_output=True, text=True)
        if loaded.returncode != 0:
            sys.stderr.write(loaded.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
