"""Make an OCI image layout loadable by Docker 20.10's `docker load` too.

    python3 build/release/docker-manifest.py LAYOUT NAME

Docker before 25 does not read an OCI layout: `docker load` of one fails (".../blobs/json: no
such file or directory"): it reads only Docker's own archive format, whose manifest.json lists
each image's config and layer files. This writes LAYOUT/manifest.json pointing into the layout's
own blobs (the same config, so the same image ID; gzip layers, which `docker load` unpacks),
one entry per platform of the index, tagged NAME-linux-ARCH: a manifest.json has no platforms,
so each architecture gets its own tag. podman and other OCI tools read index.json and ignore it.
"""
import json
import os
import sys


def blob(layout: str, digest: str) -> str:
    algorithm, value = digest.split(":", 1)
    return os.path.join("blobs", algorithm, value)


def read(layout: str, digest: str) -> dict:
    with open(os.path.join(layout, blob(layout, digest))) as f:
        return json.load(f)


def main(layout: str, name: str) -> None:
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    entries = []
    for top in index["manifests"]:
        listed = read(layout, top["digest"])["manifests"] if top["mediaType"].endswith("index.v1+json") else [top]
        for descriptor in listed:
            manifest = read(layout, descriptor["digest"])
            config = read(layout, manifest["config"]["digest"])
            entries.append({"Config": blob(layout, manifest["config"]["digest"]),
                            "RepoTags": [f"{name}-{config['os']}-{config['architecture']}"],
                            "Layers": [blob(layout, layer["digest"]) for layer in manifest["layers"]]})
    with open(os.path.join(layout, "manifest.json"), "w") as f:
        json.dump(entries, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: docker-manifest.py LAYOUT NAME")
    main(*sys.argv[1:])
