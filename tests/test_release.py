"""The release (`make release`: dist/release/, or SK_TEST_RELEASE): each file as users get it.

Each binary is static and for its architecture, and says what it is (commit, the Debian packages
of its CPython and glibc); SHA256SUMS covers and matches every file; each SBOM is valid SPDX 2.3
(PyPI spdx-tools' validator), describes exactly its binary and names what is inside with
versions and licences, and the Debian release those packages are of as Trivy reads an operating
system (read here as Trivy's SPDX decoding does); each licence text is there, and
sidecar-killer-licenses.tar holds LICENSES/ as it is; the OCI archive holds both platforms and
loads in podman and in Docker, and its images run; each image's /sidecar-killer.spdx.json
describes the /sidecar-killer beside it (its sha256). The arm64 binary runs under qemu-user
(build/setup/qemu.sh). Without a release, an emulator, podman or Docker these tests skip, saying
why, or fail when CI is set: CI never skips them.

That two clean builds give the same bytes is `make reproduce`'s to check (docs/release.md).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import re
import shutil
import struct
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

from entrypoint import __version__
from tests.helpers.process import REPO

PYTHON_VERSION = (REPO / "build" / "python-version").read_text().strip()
PYTHON = f"python{PYTHON_VERSION}"
RELEASE = Path(os.environ.get("SK_TEST_RELEASE") or REPO / "dist" / "release")
ARCHES = ["amd64", "arm64"]
ELF_MACHINES = {"amd64": 62, "arm64": 183}  # EM_X86_64, EM_AARCH64
UNAME = {"amd64": "x86_64", "arm64": "aarch64"}
# What each binary must hold, by Debian source package: the interpreter, the C library, the GCC
# runtime; and their licences as the SBOM and NOTICE name them.
COMPONENTS = {PYTHON: "Python-2.0", "glibc": "LGPL-2.1-or-later", "gcc-12": "GPL-3.0-or-later WITH GCC-exception-3.1"}


def missing(reason: str):
    """Skip with the reason, or fail when CI is set: CI never skips."""
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def release() -> Path:
    if not (RELEASE / "SHA256SUMS").is_file():
        missing(f"no release at {RELEASE}: `make release` makes it")
    return RELEASE


@pytest.fixture(params=ARCHES)
def arch(request) -> str:
    return request.param


@pytest.fixture
def runnable(arch):
    """The binary of ``arch`` can run here: natively, or under qemu-user via binfmt_misc."""
    if UNAME[arch] != platform.machine() and not Path(f"/proc/sys/fs/binfmt_misc/qemu-{UNAME[arch]}").exists():
        missing(f"no emulator for {arch} registered with binfmt_misc: `make qemu` sets it up")


def sbom(release: Path, arch: str) -> dict:
    return json.loads((release / f"sidecar-killer-linux-{arch}.spdx.json").read_text())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def elf(path: Path) -> dict:
    """The ELF header fields and program header types that tell a static executable."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, "a 64-bit little-endian ELF"
    e_type, e_machine = struct.unpack_from("<HH", data, 16)
    e_phoff, = struct.unpack_from("<Q", data, 32)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 54)
    types = {struct.unpack_from("<I", data, e_phoff + i * e_phentsize)[0] for i in range(e_phnum)}
    return {"type": e_type, "machine": e_machine, "segments": types}


def components(document: dict) -> dict:
    """{Debian source package: [packages]} of what the SBOM says is inside the binary."""
    inside = {r["relatedSpdxElement"] for r in document["relationships"]
              if r["spdxElementId"] == "SPDXRef-Package-sidecar-killer"
              and r["relationshipType"] in ("STATIC_LINK", "GENERATED_FROM")}
    found = {}
    for package in document["packages"]:
        if package["SPDXID"] in inside:
            source = re.match(r"built package from: (\S+) ", package["sourceInfo"])[1]
            found.setdefault(source, []).append(package)
    return found


# -- the files --------------------------------------------------------------------------------
def test_sha256sums_cover_every_file_and_match(release):
    listed = {}
    for line in (release / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split("  ", 1)
        listed[name] = digest
    shipped = {str(p.relative_to(release)) for p in release.rglob("*") if p.is_file() and p.name != "SHA256SUMS"}
    assert set(listed) == shipped
    for name, digest in listed.items():
        assert sha256((release / name).read_bytes()) == digest, name
    for arch in ARCHES:
        assert f"sidecar-killer-linux-{arch}" in listed and f"sidecar-killer-linux-{arch}.spdx.json" in listed
    assert "sidecar-killer-oci.tar" in listed


def test_each_binary_is_static_and_for_its_architecture(release, arch):
    header = elf(release / f"sidecar-killer-linux-{arch}")
    assert header["machine"] == ELF_MACHINES[arch]
    assert header["type"] == 2, "ET_EXEC: not position-independent, nothing for a loader to do"
    assert 3 not in header["segments"], "no PT_INTERP: no dynamic loader"
    assert 2 not in header["segments"], "no PT_DYNAMIC: no shared library"
    assert os.access(release / f"sidecar-killer-linux-{arch}", os.X_OK)


def test_version_names_the_commit_python_glibc_and_platform(release, arch, runnable):
    """The commit, CPython and glibc with the Debian packages and versions they came from: those
    the SBOM names inside the binary."""
    out = subprocess.run([release / f"sidecar-killer-linux-{arch}", "--version"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    match = re.fullmatch(rf"sidecar-killer {re.escape(__version__)} \(commit ([0-9a-f]{{12}})(-dirty)?, "
                         rf"CPython ({re.escape(PYTHON_VERSION)}\.\d+) from Debian's lib{PYTHON}-dev (\S+), "
                         rf"glibc (2\.\d+) from Debian's libc6-dev (\S+), linux/{arch}\)\n", out)
    assert match, out
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    if head:  # built from this checkout (make test builds the release first)
        assert head.startswith(match[1]), f"built from {match[1]}, the checkout is at {head}"
    described = sbom(release, arch)["packages"][0]
    assert f"commit {match[1]}" in described["sourceInfo"]
    inside = {p["name"]: p["versionInfo"] for packages in components(sbom(release, arch)).values() for p in packages}
    assert inside[f"lib{PYTHON}-dev"] == match[4], f"--version says {match[4]}, the SBOM {inside[f'lib{PYTHON}-dev']}"
    assert inside["libc6-dev"] == match[6], f"--version says {match[6]}, the SBOM {inside['libc6-dev']}"
    assert match[4].startswith(match[3] + "-") and match[6].startswith(match[5] + "-"), "upstream versions"


# -- the SBOMs ---------------------------------------------------------------------------------
def test_sbom_is_valid_spdx_2_3(release, arch):
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    path = release / f"sidecar-killer-linux-{arch}.spdx.json"
    document = parse_file(str(path))
    messages = validate_full_spdx_document(document, "SPDX-2.3")
    assert [m.validation_message for m in messages] == []
    assert sbom(release, arch)["spdxVersion"] == "SPDX-2.3"


def test_sbom_describes_exactly_this_binary(release, arch):
    document = sbom(release, arch)
    binary = (release / f"sidecar-killer-linux-{arch}").read_bytes()
    described = [r["relatedSpdxElement"] for r in document["relationships"]
                 if r["spdxElementId"] == "SPDXRef-DOCUMENT" and r["relationshipType"] == "DESCRIBES"]
    assert described == ["SPDXRef-Package-sidecar-killer"]
    package = document["packages"][0]
    assert package["SPDXID"] == "SPDXRef-Package-sidecar-killer"
    assert package["name"] == "sidecar-killer" and package["versionInfo"] == __version__
    assert package["packageFileName"] == f"sidecar-killer-linux-{arch}"
    checksums = {c["algorithm"]: c["checksumValue"] for c in package["checksums"]}
    assert checksums["SHA256"] == sha256(binary)
    assert package["licenseDeclared"] == "Apache-2.0"


def test_sbom_names_each_component_inside_with_version_and_licence(release, arch):
    document = sbom(release, arch)
    inside = components(document)
    assert set(inside) == set(COMPONENTS), "exactly these are linked or frozen in (no expat: pyexpat is left out)"
    for source, licence in COMPONENTS.items():
        for package in inside[source]:
            assert package["licenseConcluded"] == licence, package["name"]
            assert re.fullmatch(r"\S+-\S+", package["versionInfo"]), "a Debian version"
            purl = package["externalRefs"][0]["referenceLocator"]
            assert purl.startswith(f"pkg:deb/debian/{package['name']}@") and f"arch={arch}" in purl, purl
    names = {p["name"] for packages in inside.values() for p in packages}
    assert {"libc6-dev", f"lib{PYTHON}-dev", "libgcc-12-dev"} <= names
    # The frozen modules' sources, each with its checksums; ours among them.
    files = {f["fileName"]: f for f in document["files"]}
    assert {"./entrypoint/cli.py", "./entrypoint/buildinfo.py", "./entrypoint/__main__.py", "./launcher/main.c", f"./launcher/cpython{PYTHON_VERSION.replace('.', '')}.c"} <= set(files)
    # The standard library's sources, from Debian's package: what any start needs.
    assert f"./usr/lib/{PYTHON}/codecs.py" in files and f"./usr/lib/{PYTHON}/importlib/_bootstrap.py" in files
    assert all({c["algorithm"] for c in f["checksums"]} >= {"SHA1", "SHA256"} for f in files.values())
    pinned = {line.split()[1]: line.split()[2] for line in (REPO / "build/release/debian.lock").read_text().splitlines()
              if line.startswith(arch + " ")}
    for packages in inside.values():
        for package in packages:
            assert package["name"] in pinned, f"{package['name']} is inside but not pinned"


def trivy_reading(document: dict) -> dict:
    """What Trivy takes from an SPDX document, as its sources read (aquasecurity/trivy v0.74:
    pkg/sbom/spdx/unmarshal.go, pkg/sbom/io/decode.go, pkg/purl/purl.go): the OS (the first package
    whose SPDXID, less "SPDXRef-", starts with "OperatingSystem": family its name, version its
    versionInfo), the packages it reaches from the OS through relationships other than DESCRIBES
    (the OS's packages), those it takes but does not reach (orphans), and each package's source
    package and version from a sourceInfo "built package from: NAME VERSION", else none."""
    ids = {p["SPDXID"].removeprefix("SPDXRef-"): p for p in document["packages"]}
    edges = {}
    for r in document["relationships"]:
        a, b = r["spdxElementId"].removeprefix("SPDXRef-"), r["relatedSpdxElement"].removeprefix("SPDXRef-")
        if r["relationshipType"] != "DESCRIBES" and a in ids and b in ids:
            edges.setdefault(a, []).append(b)
    systems = [i for i in ids if i.startswith("OperatingSystem")]

    def purl(package):
        refs = [r["referenceLocator"] for r in package.get("externalRefs", [])
                if r["referenceType"] == "purl" and r["referenceCategory"] == "PACKAGE-MANAGER"]
        return refs[0] if refs else None
    # Packages: a purl of a type Trivy scans (OS: deb, apk, rpm; here also pypi); the rest it skips.
    taken = {i for i, p in ids.items() if i not in systems and purl(p)
             and re.match(r"pkg:(deb|apk|rpm|pypi)/", purl(p))}
    reached, todo = set(), list(edges.get(systems[0], [])) if systems else []
    while todo:
        i = todo.pop()
        if i in taken and i not in reached:
            reached.add(i)
            todo += edges.get(i, [])
    sources = {}
    for i in taken:
        info = ids[i].get("sourceInfo", "")
        if info.startswith("built package from"):
            name, _, version = info.removeprefix("built package from: ").partition(" ")
            sources[ids[i]["name"]] = (name, version)
    return {"os": [(ids[i]["name"], ids[i].get("versionInfo")) for i in systems],
            "os_packages": {ids[i]["name"] for i in reached}, "orphans": {ids[i]["name"] for i in taken - reached},
            "purls": {ids[i]["name"]: purl(ids[i]) for i in taken}, "sources": sources}


def test_sbom_names_debian_as_trivy_reads_an_os_and_each_deb_package_as_its(release, arch):
    """Trivy reads an operating system only from a package whose SPDXID starts with
    SPDXRef-OperatingSystem, takes the packages it CONTAINS as that OS's, and looks Debian's security
    data up by source package, which it reads from sourceInfo "built package from: NAME VERSION"
    alone (docs/release.md, "The SBOM in the image"). Exactly the Debian packages inside the binary
    carry a pkg:deb purl (Trivy and Syft take every package with a purl for a package present);
    the build tools name theirs in a comment."""
    document = sbom(release, arch)
    reading = trivy_reading(document)
    assert reading["os"] == [("debian", "12")], "one OS, as Trivy names Debian 12: family debian, version 12"
    (system,) = [p for p in document["packages"] if p["SPDXID"].startswith("SPDXRef-OperatingSystem")]
    assert system["primaryPackagePurpose"] == "OPERATING-SYSTEM"
    inside = {p["name"]: p for packages in components(document).values() for p in packages}
    debs = {name for name, purl in reading["purls"].items() if purl.startswith("pkg:deb/")}
    assert debs == set(inside), "a pkg:deb purl on exactly the packages inside the binary"
    assert reading["os_packages"] == debs and reading["orphans"] == set(), "every pkg:deb package the OS's"
    contained = {r["relatedSpdxElement"] for r in document["relationships"]
                 if r["spdxElementId"] == system["SPDXID"] and r["relationshipType"] == "CONTAINS"}
    assert contained == {p["SPDXID"] for p in inside.values()}, "the OS CONTAINS each, as Trivy writes it"
    for name in inside:
        assert "distro=debian-12" in reading["purls"][name] and f"arch={arch}" in reading["purls"][name]
        source, version = reading["sources"][name]
        assert source in COMPONENTS and re.fullmatch(r"\S+-\S+", version), (name, source, version)
    assert reading["sources"][f"lib{PYTHON}-dev"][0] == PYTHON and reading["sources"]["libc6-dev"][0] == "glibc"
    tools = {r["spdxElementId"] for r in document["relationships"] if r["relationshipType"] == "BUILD_TOOL_OF"}
    assert tools, "the pinned build tools are named"
    for package in document["packages"]:
        if package["SPDXID"] in tools:
            assert "externalRefs" not in package and re.search(r"\(pkg:(deb|pypi)/\S+@", package["comment"]), package


# -- the licences ------------------------------------------------------------------------------
def test_licences_and_notices_are_there(release, arch):
    licences = release / "LICENSES"
    apache = (licences / "sidecar-killer" / "Apache-2.0").read_text()
    assert "Apache License" in apache and "Version 2.0, January 2004" in apache
    assert "GNU LESSER GENERAL PUBLIC LICENSE" in (licences / "common-licenses" / "LGPL-2.1").read_text()
    for source, packages in components(sbom(release, arch)).items():
        copyright_file = licences / "debian" / source / "copyright"
        assert copyright_file.is_file() and copyright_file.stat().st_size > 1000, source
    assert "GCC RUNTIME LIBRARY EXCEPTION" in (licences / "debian" / "gcc-12" / "copyright").read_text()
    assert "Python Software Foundation" in (licences / "debian" / PYTHON / "copyright").read_text()
    notice = (licences / f"NOTICE-linux-{arch}.md").read_text()
    libc = components(sbom(release, arch))["glibc"][0]
    assert f"libc6-dev {libc['versionInfo']}" in notice and "Relinking" in notice
    objects = (licences / f"glibc-objects-linux-{arch}.txt").read_text().splitlines()
    assert len([line for line in objects if "/libc.a(" in line]) > 100, "the libc.a members linked in"


def test_licences_archive_holds_exactly_licenses(release):
    """LICENSES/ as one file for the release page: the same texts, extracted beside SHA256SUMS."""
    shipped = {str(p.relative_to(release)): p.read_bytes() for p in (release / "LICENSES").rglob("*") if p.is_file()}
    with tarfile.open(release / "sidecar-killer-licenses.tar") as tar:
        members = tar.getmembers()
        archived = {m.name: tar.extractfile(m).read() for m in members if m.isfile()}
    assert archived == shipped
    assert all(m.name == "LICENSES" or m.name.startswith("LICENSES/") for m in members)
    assert {(m.uid, m.gid) for m in members} == {(0, 0)}
    assert len({int(m.mtime) for m in members}) == 1, "one time for all: the commit's"


# -- the OCI image archive -----------------------------------------------------------------------
def oci_images(archive: Path) -> dict:
    """{arch: (config, {path in the layer: bytes})} of each image in the archive's index."""
    with tarfile.open(archive) as tar:
        def blob(digest):
            return tar.extractfile("blobs/sha256/" + digest.split(":", 1)[1]).read()
        index = json.loads(tar.extractfile("index.json").read())
        assert json.loads(tar.extractfile("oci-layout").read())["imageLayoutVersion"] == "1.0.0"
        assert len(index["manifests"]) == 1
        listed = json.loads(blob(index["manifests"][0]["digest"]))
        assert listed["mediaType"] == "application/vnd.oci.image.index.v1+json"
        images = {}
        for descriptor in listed["manifests"]:
            manifest = json.loads(blob(descriptor["digest"]))
            config = json.loads(blob(manifest["config"]["digest"]))
            assert descriptor["platform"] == {"architecture": config["architecture"], "os": "linux"}
            files = {}
            for layer in manifest["layers"]:
                with tarfile.open(fileobj=io.BytesIO(blob(layer["digest"]))) as layer_tar:
                    for member in layer_tar.getmembers():
                        if member.isfile():
                            files["/" + member.name] = (layer_tar.extractfile(member).read(), member.mode & 0o7777)
            images[config["architecture"]] = (config, files)
        return images


def test_oci_archive_holds_both_platforms_from_scratch(release):
    images = oci_images(release / "sidecar-killer-oci.tar")
    assert set(images) == set(ARCHES)
    for arch, (config, files) in images.items():
        assert config["os"] == "linux"
        assert config["config"]["Entrypoint"] == ["/sidecar-killer"]
        assert config["config"]["Labels"]["org.opencontainers.image.version"] == __version__
        binary, mode = files.pop("/sidecar-killer")
        assert binary == (release / f"sidecar-killer-linux-{arch}").read_bytes() and mode == 0o755
        assert files.pop("/sidecar-killer.spdx.json")[0] == (release / f"sidecar-killer-linux-{arch}.spdx.json").read_bytes()
        assert files, "LICENSES"
        for path, (data, _mode) in files.items():
            assert path.startswith("/LICENSES/"), f"nothing but the binary, its SBOM and LICENSES: {path}"
            assert data == (release / path.lstrip("/")).read_bytes()
        assert f"/LICENSES/NOTICE-linux-{arch}.md" in files


def oci_layers(archive: Path) -> dict:
    """{arch: [{path in the layer: bytes} for each layer]} of each image in the archive's index."""
    with tarfile.open(archive) as tar:
        def blob(digest):
            return tar.extractfile("blobs/sha256/" + digest.split(":", 1)[1]).read()
        index = json.loads(tar.extractfile("index.json").read())
        listed = json.loads(blob(index["manifests"][0]["digest"]))
        images = {}
        for descriptor in listed["manifests"]:
            manifest = json.loads(blob(descriptor["digest"]))
            layers = []
            for layer in manifest["layers"]:
                with tarfile.open(fileobj=io.BytesIO(blob(layer["digest"]))) as layer_tar:
                    layers.append({"/" + m.name.lstrip("./"): layer_tar.extractfile(m).read()
                                   for m in layer_tar.getmembers() if m.isfile()})
            images[descriptor["platform"]["architecture"]] = layers
        return images


def test_each_image_carries_the_sbom_of_its_own_binary(release):
    """/sidecar-killer.spdx.json beside /sidecar-killer, in the same layer: the document describes
    that very file (its sha256), for that platform, so a `COPY --from=` of both keeps them paired."""
    for arch, layers in oci_layers(release / "sidecar-killer-oci.tar").items():
        (layer,) = [files for files in layers if "/sidecar-killer" in files]
        assert "/sidecar-killer.spdx.json" in layer, f"{arch}: the SBOM is not in the binary's layer"
        document = json.loads(layer["/sidecar-killer.spdx.json"])
        (described,) = [r["relatedSpdxElement"] for r in document["relationships"]
                        if r["spdxElementId"] == "SPDXRef-DOCUMENT" and r["relationshipType"] == "DESCRIBES"]
        (package,) = [p for p in document["packages"] if p["SPDXID"] == described]
        checksums = {c["algorithm"]: c["checksumValue"] for c in package["checksums"]}
        assert checksums["SHA256"] == sha256(layer["/sidecar-killer"]), arch
        assert package["packageFileName"] == f"sidecar-killer-linux-{arch}"
        assert f"linux/{arch}" in package["sourceInfo"]
        assert elf_machine(layer["/sidecar-killer"]) == ELF_MACHINES[arch]


def elf_machine(data: bytes) -> int:
    return struct.unpack_from("<H", data, 18)[0]


def need(tool: str) -> str:
    path = shutil.which(tool)
    if not path:
        missing(f"{tool} is not installed: `make podman` / `make engine` install it")
    return path


@pytest.fixture
def podman_storage():
    """A private, short-lived podman storage (podman wants a run root under 50 characters)."""
    directory = tempfile.mkdtemp(prefix="sk-podman-", dir="/tmp")
    yield ["--root", f"{directory}/storage", "--runroot", f"{directory}/run", "--storage-driver", "vfs"]
    shutil.rmtree(directory, ignore_errors=True)


def test_oci_archive_loads_in_podman_and_each_platform_runs(release, podman_storage, arch, runnable):
    podman = [need("podman"), *podman_storage]
    env = dict(os.environ)
    conf = Path(os.environ.get("PODMAN_CONTAINERS_CONF", "/etc/containers/sidecar-killer-tests.conf"))
    if conf.is_file():  # build/setup/podman.sh: limits runc here can apply
        env["CONTAINERS_CONF"] = str(conf)
    archive = f"oci-archive:{release / 'sidecar-killer-oci.tar'}"
    subprocess.run(podman + ["pull", "-q", "--platform", f"linux/{arch}", archive], check=True, env=env,
                   capture_output=True, timeout=300)
    out = subprocess.run(podman + ["run", "--rm", "--platform", f"linux/{arch}", f"sidecar-killer:{__version__}",
                                   "--version"], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.rstrip().endswith(f", linux/{arch})"), out.stdout


@pytest.mark.docker
def test_oci_archive_loads_in_docker_20_10_one_tag_per_platform(release, arch, runnable):
    """Docker before 25 reads no OCI index: the archive's manifest.json tags each platform."""
    docker = need("docker")
    if subprocess.run([docker, "info"], capture_output=True, timeout=60).returncode != 0:
        missing("no Docker engine reachable: `make engine` starts one")
    loaded = subprocess.run([docker, "load", "-i", str(release / "sidecar-killer-oci.tar")], capture_output=True,
                            text=True, timeout=300, check=True).stdout
    tag = f"sidecar-killer:{__version__}-linux-{arch}"
    assert f"Loaded image: {tag}" in loaded
    out = subprocess.run([docker, "run", "--rm", tag, "--version"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.rstrip().endswith(f", linux/{arch})"), out.stdout
    inspected = json.loads(subprocess.run([docker, "image", "inspect", tag], capture_output=True, text=True,
                                          check=True).stdout)[0]
    assert inspected["Architecture"] == arch and inspected["Os"] == "linux"
