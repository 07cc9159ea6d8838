"""Write a release binary's SBOM (SPDX 2.3 JSON) and its LICENSES/, from its build stage's own inputs.

    python3 build/release/sbom.py BINARY WORK OUT      (in build/release/Dockerfile's stage)

What is inside the binary is read off the build, never listed by hand:
- WORK/link.map (build/freeze.sh): every object file and archive member the linker took;
- WORK/frozen.json (build/freeze_modules.py): every module frozen, and the file it came from;
each file is traced to the Debian package that installed it (dpkg-query -S), at the version
installed in this stage (dpkg-query -W). Files under /src are sidecar-killer's own.

Writes into OUT:
- sidecar-killer.spdx.json: the binary (version, commit, sha256), each Debian package inside it
  (linked, or whose Python sources are frozen in it) with its exact version, purl, source package
  and licence, the Debian release they come from as an operating-system package that CONTAINS
  them (how scanners learn which security data to match them against: see SCANNERS below), each
  frozen source file with its checksums, and the pinned build tools (named, with no purl: not
  inside);
- LICENSES/debian/SOURCE/copyright: the /usr/share/doc/PACKAGE/copyright of each such package,
  by Debian source package (the packages of one source share it; debian/SOURCE/PACKAGE/ if not);
- LICENSES/common-licenses/NAME: each text those files refer to (/usr/share/common-licenses);
- LICENSES/sidecar-killer/Apache-2.0: our own licence (pyproject.toml), Debian's copy of the text;
- LICENSES/NOTICE-linux-ARCH.md and glibc-objects-linux-ARCH.txt: what is inside under which
  licence, and how to relink with another C library (LGPL-2.1).

Environment: SOURCE_REVISION (the commit, 40 hex digits, as build/source-commit.sh --full
prints it), SOURCE_DATE_EPOCH (the SBOM's creation time), RELEASE_LOCK (build/release/debian.lock:
every package inside must be pinned there).
"""
import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.parse
import uuid

SRC = "/src"
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python-version")) as _f:
    PYTHON = "python" + _f.read().strip()  # Debian's source package of the linked CPython
INTERNALS = "cpython" + PYTHON[len("python"):].replace(".", "") + ".c"  # launcher/: its internals
# The licence of each component, by Debian source package: a new component inside the binary
# stops the build until someone decides its licence here (and its copyright file is shipped).
LICENCES = {
    "glibc": "LGPL-2.1-or-later",
    PYTHON: "Python-2.0",
    "gcc-12": "GPL-3.0-or-later WITH GCC-exception-3.1",  # libgcc, crtbegin/crtend
}
OWN_LICENCE = "Apache-2.0"  # pyproject.toml
COMPONENTS = {"glibc": "GNU C Library", PYTHON: "CPython", "gcc-12": "GCC runtime (libgcc)"}

# SCANNERS: what Trivy and Syft take from the document (docs/release.md, "The SBOM in the image").
# - Trivy (pkg/sbom/spdx/unmarshal.go, pkg/sbom/io/decode.go) reads a package whose SPDXID starts
#   with SPDXRef-OperatingSystem as the OS (name: its family, versionInfo: its version) and the
#   packages that OS CONTAINS as its packages; a package's Debian source package only from a
#   sourceInfo "built package from: SOURCE VERSION", by which its Debian detector looks the
#   security data up (pkg/detector/ospkg/debian/debian.go). It takes every package with a purl for
#   one that is present, and skips those without: so the build tools carry their purls in comments.
# - Syft (syft/format/common/spdxhelpers/to_syft_model.go) takes every package, with a purl or not;
#   a Debian package's source from its purl's upstream= qualifier.
SOURCE_INFO_PREFIX = "built package from: "


def fail(message: str):
    sys.exit(f"sbom.py: {message}")


def run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def digest(path: str, algorithm: str) -> str:
    with open(path, "rb") as f:
        return hashlib.new(algorithm, f.read()).hexdigest()


def spdx_id(kind: str, name: str) -> str:
    return f"SPDXRef-{kind}-" + re.sub(r"[^A-Za-z0-9.-]", "-", name)


# -- what the build put in ------------------------------------------------------------------
def linked(link_map: str) -> dict:
    """{object or archive path: set of archive members linked (empty for an object file)}."""
    with open(link_map) as f:
        text = f.read()
    found = {}
    head = text.split("\nDiscarded input sections", 1)[0]
    for archive, member in re.findall(r"^(/\S+?\.a)\(([^)\s]+)\)", head, re.M):
        found.setdefault(os.path.normpath(archive), set()).add(member)
    for path in re.findall(r"^LOAD (\S+\.o)$", text, re.M):
        found.setdefault(os.path.normpath(path), set())
    return found


def owners(paths: list) -> dict:
    """{path: Debian package that installed it}, for paths outside /src and the compiler's temp files."""
    wanted = sorted({p for p in paths if not p.startswith((SRC + "/", "/tmp/"))})
    result = {}
    for line in run("dpkg-query", "-S", *wanted).splitlines():
        package, _, path = line.partition(": ")
        if path in wanted and "," not in package:
            result[path] = package.split(":")[0]
    missing = set(wanted) - set(result)
    if missing:
        fail(f"no Debian package owns {sorted(missing)}: every input must come from a pinned package")
    return result


def installed(packages: set) -> dict:
    fields = ["Package", "Architecture", "Version", "source:Package", "source:Version", "Maintainer",
              "binary:Summary"]
    out = run("dpkg-query", "-W", "-f", "\t".join("${%s}" % f for f in fields) + "\n", *sorted(packages))
    return {row[0]: dict(zip(fields, row)) for row in (line.split("\t") for line in out.splitlines())}


def lock(path: str, arch: str) -> dict:
    with open(path) as f:
        rows = [line.split() for line in f if line.strip() and not line.startswith("#")]
    return {row[1]: row[2] for row in rows if row[0] == arch}


def os_release() -> dict:
    with open("/etc/os-release") as f:
        return {key: value.strip('"') for key, value in
                (line.rstrip("\n").split("=", 1) for line in f if "=" in line)}


# -- SPDX -------------------------------------------------------------------------------------
def purl(info: dict, distro: str) -> str:
    version = urllib.parse.quote(info["Version"], safe="")
    qualifiers = [f"arch={info['Architecture']}", f"distro={distro}"]
    if info["source:Package"] != info["Package"]:
        qualifiers.append("upstream=" + urllib.parse.quote(info["source:Package"], safe=""))
    return f"pkg:deb/debian/{info['Package']}@{version}?" + "&".join(qualifiers)


def deb_package(info: dict, licence: str, distro: str, comment: str, inside: bool) -> dict:
    """A Debian package; its purl as a PACKAGE-MANAGER reference only if it is inside the binary:
    scanners take every package with one for a package present where the SBOM is."""
    package = {
        "SPDXID": spdx_id("Package-deb", info["Package"]),
        "name": info["Package"],
        "versionInfo": info["Version"],
        "supplier": "Organization: " + info["Maintainer"],
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        # Exactly this form: Trivy reads the source package from it (SCANNERS).
        "sourceInfo": f"{SOURCE_INFO_PREFIX}{info['source:Package']} {info['source:Version']}",
        "licenseConcluded": licence,
        "licenseDeclared": licence,
        "copyrightText": "NOASSERTION",
        "description": info["binary:Summary"],
        "comment": comment,
    }
    if inside:
        package["externalRefs"] = [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                                    "referenceLocator": purl(info, distro)}]
    else:
        package["comment"] += f" ({purl(info, distro)})"
    return package


def os_package(release: dict) -> dict:
    """The Debian release the packages inside come from, as Trivy reads an operating system (SCANNERS)."""
    return {
        "SPDXID": spdx_id("OperatingSystem", f"{release['ID']}-{release['VERSION_ID']}"),
        "name": release["ID"],
        "versionInfo": release["VERSION_ID"],
        "supplier": "Organization: Debian",
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "primaryPackagePurpose": "OPERATING-SYSTEM",
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "description": release.get("PRETTY_NAME", release["ID"]),
        "comment": "The Debian release whose packages are inside the binary, which CONTAINS each of them: "
                   "what their security data is looked up for. None of its files is inside; "
                   "the binary needs no operating system files.",
    }


def main(binary: str, work: str, out: str) -> None:
    arch = run("dpkg", "--print-architecture").strip()
    platform = f"linux/{arch}"
    release = os_release()
    if release.get("ID") != "debian":
        fail(f"not a Debian stage: /etc/os-release says ID={release.get('ID')}")
    distro = f"debian-{release['VERSION_ID']}"
    revision = os.environ.get("SOURCE_REVISION", "unknown")
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    created = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with open(os.path.join(SRC, "entrypoint", "__init__.py")) as f:
        version = re.search(r'^__version__ = "([^"]+)"', f.read(), re.M)[1]
    with open(os.path.join(work, "frozen.json")) as f:
        frozen = json.load(f)
    binary_name = f"sidecar-killer-{platform.replace('/', '-')}"
    sha256 = digest(binary, "sha256")

    # What is inside, and whose it is.
    objects = linked(os.path.join(work, "link.map"))
    sources = [(name, os.path.normpath(path)) for name, path in frozen["bootstrap"] + frozen["modules"]]
    owner = owners(list(objects) + [path for _, path in sources])
    infos = installed(set(owner.values()))
    pinned = lock(os.environ["RELEASE_LOCK"], arch)
    unpinned = sorted(p for p in infos if p not in pinned)
    if unpinned:
        fail(f"inside the binary but not pinned in {os.environ['RELEASE_LOCK']}: {unpinned}")
    unknown = sorted({i["source:Package"] for i in infos.values()} - set(LICENCES))
    if unknown:
        fail(f"new components inside the binary: {unknown}: add their licence to LICENCES in {__file__}")

    # Each package's share: linked objects and members, frozen modules.
    share = {package: [] for package in infos}
    members = {}
    for path, taken in sorted(objects.items()):
        if path in owner:
            share[owner[path]].append(f"{os.path.basename(path)} ({len(taken)} objects linked)" if taken
                                      else os.path.basename(path))
            members[path] = taken
    module_counts = {}
    for _, path in sources:
        if path in owner:
            module_counts[owner[path]] = module_counts.get(owner[path], 0) + 1
    for package, count in module_counts.items():
        share[package].append(f"{count} Python modules' sources, frozen as bytecode")

    document_name = f"sidecar-killer-{version}-{platform.replace('/', '-')}"
    namespace_id = uuid.uuid5(uuid.NAMESPACE_URL, f"sidecar-killer:{document_name}:{sha256}")
    main_id = "SPDXRef-Package-sidecar-killer"
    all_licences = sorted({OWN_LICENCE} | {LICENCES[i["source:Package"]] for i in infos.values()})
    packages = [{
        "SPDXID": main_id,
        "name": "sidecar-killer",
        "versionInfo": version,
        "packageFileName": binary_name,
        "supplier": "NOASSERTION",
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "checksums": [{"algorithm": "SHA256", "checksumValue": sha256},
                      {"algorithm": "SHA1", "checksumValue": digest(binary, "sha1")}],
        "sourceInfo": f"built from sidecar-killer commit {revision} by build/release/Dockerfile "
                      f"(Debian bookworm, {platform})",
        "licenseConcluded": " AND ".join(f"({x})" if " " in x else x for x in all_licences),
        "licenseDeclared": OWN_LICENCE,
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "APPLICATION",
        "builtDate": created,
        "description": "Container entrypoint: waits for the mesh proxy, runs the app, quits the proxy, "
                       f"keeps the exit code. One static executable: CPython {PYTHON[len('python'):]} with frozen modules.",
        "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                          "referenceLocator": f"pkg:generic/sidecar-killer@{version}"}],
    }]
    relationships = [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                      "relatedSpdxElement": main_id}]
    inside = []
    for package in sorted(infos):
        info = infos[package]
        entry = deb_package(info, LICENCES[info["source:Package"]], distro,
                            f"{COMPONENTS[info['source:Package']]}; inside the binary: " + "; ".join(share[package]),
                            inside=True)
        packages.append(entry)
        inside.append(entry["SPDXID"])
        statically = any(owner.get(path) == package for path in objects)
        relationships.append({"spdxElementId": main_id,
                              "relationshipType": "STATIC_LINK" if statically else "GENERATED_FROM",
                              "relatedSpdxElement": entry["SPDXID"]})
    # The operating system those packages are of: Debian, at this stage's release.
    system = os_package(release)
    packages.append(system)
    relationships += [{"spdxElementId": system["SPDXID"], "relationshipType": "CONTAINS", "relatedSpdxElement": element}
                      for element in inside]

    # Build tools: the pinned Debian packages not inside, and the Python tools of the analysis;
    # their purls in their comments only (deb_package).
    tools = installed(set(pinned) - set(infos))
    for package in sorted(tools):
        entry = deb_package(tools[package], "NOASSERTION", distro, "build tool (pinned), not inside the binary",
                            inside=False)
        packages.append(entry)
        relationships.append({"spdxElementId": entry["SPDXID"], "relationshipType": "BUILD_TOOL_OF",
                              "relatedSpdxElement": main_id})
    with open(os.path.join(SRC, "build", "requirements.txt")) as f:
        python_tools = re.findall(r"^([A-Za-z0-9._-]+)==(\S+)", f.read(), re.M)
    for name, tool_version in python_tools:
        entry = {"SPDXID": spdx_id("Package-pypi", name), "name": name, "versionInfo": tool_version,
                 "downloadLocation": "NOASSERTION", "filesAnalyzed": False,
                 "licenseConcluded": "NOASSERTION", "licenseDeclared": "NOASSERTION", "copyrightText": "NOASSERTION",
                 "comment": "build tool (build/requirements.txt): PyInstaller's import analysis chooses the frozen "
                            f"modules; none of it is inside the binary (pkg:pypi/{name.lower()}@{tool_version})"}
        packages.append(entry)
        relationships.append({"spdxElementId": entry["SPDXID"], "relationshipType": "BUILD_TOOL_OF",
                              "relatedSpdxElement": main_id})

    # Files: every frozen module's source, and our C sources.
    files = []
    own_c = [(None, os.path.join(SRC, "launcher", name)) for name in ("main.c", "native.c", INTERNALS)]
    for name, path in sources + own_c:
        if path in owner:
            info = infos[owner[path]]
            licence = LICENCES[info["source:Package"]]
            comment = f"from Debian package {info['Package']} {info['Version']}, installed at {path}"
            file_name = "." + path  # SPDX file names are relative: to the build stage's root here
        else:
            licence = OWN_LICENCE
            comment = "sidecar-killer's own" + (" (generated by build/freeze_modules.py)" if "/work/" in path else "")
            file_name = "./" + os.path.relpath(path, SRC)  # to sidecar-killer's source tree
        how = f"frozen as module {name} (bytecode, optimize 2)" if name else "compiled and linked"
        entry = {"SPDXID": f"SPDXRef-File-{len(files) + 1}", "fileName": file_name,
                 "checksums": [{"algorithm": "SHA1", "checksumValue": digest(path, "sha1")},
                               {"algorithm": "SHA256", "checksumValue": digest(path, "sha256")}],
                 "licenseConcluded": licence, "copyrightText": "NOASSERTION", "comment": f"{how}; {comment}"}
        files.append(entry)
        relationships.append({"spdxElementId": main_id, "relationshipType": "GENERATED_FROM",
                              "relatedSpdxElement": entry["SPDXID"]})

    document = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": document_name,
        "documentNamespace": f"https://spdx.org/spdxdocs/{document_name}-{namespace_id}",
        "creationInfo": {"created": created, "creators": ["Tool: sidecar-killer-build-release-sbom.py"],
                         "comment": "Made from the build stage's own inputs: the linker map, the frozen module "
                                    "list and dpkg's database."},
        "packages": packages,
        "files": files,
        "relationships": relationships,
    }
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "sidecar-killer.spdx.json"), "w") as f:
        json.dump(document, f, indent=1, sort_keys=True)
        f.write("\n")
    write_licences(os.path.join(out, "LICENSES"), infos, share, members, owner, platform, version, revision)


# -- LICENSES/ --------------------------------------------------------------------------------
def write_licences(directory: str, infos: dict, share: dict, members: dict, owner: dict,
                   platform: str, version: str, revision: str) -> None:
    common = set()
    by_source = {}
    for package in sorted(infos):
        with open(f"/usr/share/doc/{package}/copyright", "rb") as f:
            by_source.setdefault(infos[package]["source:Package"], {})[package] = f.read()
    for source, texts in sorted(by_source.items()):
        shared = len(set(texts.values())) == 1
        for package, text in texts.items():
            target = os.path.join(directory, "debian", source, "" if shared else package, "copyright")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(text)
            common.update(re.findall(r"/usr/share/common-licenses/([A-Za-z0-9][A-Za-z0-9.+-]*[A-Za-z0-9+])",
                                     text.decode(errors="replace")))
    os.makedirs(os.path.join(directory, "common-licenses"), exist_ok=True)
    for name in sorted(common):
        if os.path.isfile(f"/usr/share/common-licenses/{name}"):
            shutil.copyfile(f"/usr/share/common-licenses/{name}", os.path.join(directory, "common-licenses", name))
    os.makedirs(os.path.join(directory, "sidecar-killer"), exist_ok=True)
    shutil.copyfile(f"/usr/share/common-licenses/{OWN_LICENCE}", os.path.join(directory, "sidecar-killer", OWN_LICENCE))

    suffix = platform.replace("/", "-")
    glibc = [path for path in sorted(members) if infos[owner[path]]["source:Package"] == "glibc"]
    with open(os.path.join(directory, f"glibc-objects-{suffix}.txt"), "w") as f:
        for path in glibc:
            taken = sorted(members[path])
            f.writelines([f"{path}({member})\n" for member in taken] if taken else [path + "\n"])
    libc = next(infos[p] for p in infos if infos[p]["source:Package"] == "glibc")
    python = next(infos[p] for p in infos if infos[p]["source:Package"] == PYTHON)
    rows = [f"| sidecar-killer | (this project) | {version} | {OWN_LICENCE} | sidecar-killer/{OWN_LICENCE} | "
            "entrypoint/, launcher/ |"]
    for package in sorted(infos):
        info = infos[package]
        source = info["source:Package"]
        text = f"debian/{source}/copyright" if len(set(by_source[source].values())) == 1 \
            else f"debian/{source}/{package}/copyright"
        rows.append(f"| {COMPONENTS[source]} | {package} ({source}) | {info['Version']} "
                    f"| {LICENCES[source]} | {text} | {'; '.join(share[package])} |")
    text = f"""# What is inside sidecar-killer-{suffix}, and under which licences

sidecar-killer {version}, commit {revision}, built in a Debian bookworm {platform} stage
(build/release/Dockerfile). Generated by build/release/sbom.py from that stage's linker map,
frozen module list and dpkg database, like sidecar-killer-{suffix}.spdx.json.

| component | Debian package (source) | version | licence | text | inside the binary |
|---|---|---|---|---|---|
""" + "\n".join(rows) + f"""

The licence texts that those copyright files refer to are in common-licenses/ (Debian's
/usr/share/common-licenses). The GCC Runtime Library Exception that covers libgcc and the C
runtime objects is in debian/gcc-12/copyright.

## Relinking with another C library (GNU LGPL 2.1, section 6)

The binary links the GNU C Library statically: libc.a, libm.a and the start files of
libc6-dev {libc['Version']} (source package glibc {libc['source:Version']}); the objects it took are
listed in glibc-objects-{suffix}.txt. To run it with a modified glibc, relink it:

1. Get sidecar-killer's source at commit {revision} (Apache-2.0: all of it is there) and
   glibc's: the Debian source package glibc {libc['source:Version']} (`apt-get source glibc={libc['source:Version']}`).
2. Build the release stage as `make release` does (build/release/Dockerfile: Debian bookworm
   {platform}, the packages at the versions of build/release/debian.lock, among them
   lib{PYTHON}-dev {python['Version']}), with your glibc's libc.a, libm.a, crt1.o, crti.o and
   crtn.o in place of Debian's, and run build/freeze.sh. Its last step is the link:
   gcc -O2 -static -s -Idist/work launcher/main.c launcher/native.c launcher/{INTERNALS}
   lib{PYTHON}.a -lm
   ({INTERNALS} includes dist/work/frozen_modules.h, generated from the same commit, so the
   rest of the binary is as released:
   `make reproduce` checks that a rebuild gives the same bytes).
"""
    with open(os.path.join(directory, f"NOTICE-{suffix}.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        fail("usage: sbom.py BINARY WORK OUT")
    main(*sys.argv[1:])
