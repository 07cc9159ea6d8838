"""The release workflow (.github/workflows/release.yml) keeps its promises, read off the file:
nothing here can run it (it needs GitHub, its runners and its OIDC tokens), so this reads it and
`make lint-workflows` lints it. A tag v* is its only trigger; every action is pinned to a full
commit SHA; OIDC tokens (id-token: write) exist only in the jobs that sign or attest; what it
builds and checks it does through `make` targets that `make test` runs too; it publishes only
files that `make release` writes (build/release/release.sh's list), pushes the image archive as
built, signs the image digest and SHA256SUMS with cosign and attests provenance and SBOMs.

And each linter of `make lint-workflows` fails on a workflow broken the way it checks, so the
lint cannot pass by checking nothing.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers.process import REPO

WORKFLOW = REPO / ".github" / "workflows" / "release.yml"
ARCHES = ["amd64", "arm64"]
SHA = re.compile(r"[0-9a-f]{40}")
# Steps that sign or attest, the only ones that need the workflow's OIDC token.
ATTEST_ACTIONS = {"actions/attest", "actions/attest-build-provenance", "actions/attest-sbom"}
SIGNATURE_BUNDLE = "SHA256SUMS.cosign.bundle"  # written by the workflow's signing step, not by make


def load() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def triggers(workflow: dict) -> dict:
    # YAML 1.1 (PyYAML) reads the key `on` as the boolean true.
    return workflow.get("on", workflow.get(True))


def steps(workflow: dict):
    for job_id, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, step


def action(step: dict) -> str:
    return step["uses"].split("@", 1)[0] if "uses" in step else ""


def runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job.get("steps", []))


def signs_or_attests(job: dict) -> bool:
    return "cosign " in runs(job) or any(action(step) in ATTEST_ACTIONS for step in job.get("steps", []))


def released_files() -> set:
    """The files `make release` writes, as build/release/release.sh's header lists them."""
    head = (REPO / "build/release/release.sh").read_text().splitlines()[:15]
    assert head[1].startswith("# `make release`: write dist/release/")
    names = set()
    for line in head:
        match = re.match(r"#   (\S.*?)\s{2,}\S", line)
        if not match:
            continue
        for name in match[1].split(", "):
            names |= {name.replace("ARCH", arch) for arch in ARCHES}
    return names


def make_targets_run_by_test() -> set:
    """The targets `make test` makes: its prerequisites and the `$(MAKE) TARGET` of its recipe."""
    makefile = (REPO / "Makefile").read_text()
    rule = re.search(r"^test:(.*)\n((?:\t.*\n)+)", makefile, re.M)
    targets = set(rule[1].split())
    targets |= set(re.findall(r"\$\(MAKE\) ([a-z][\w-]*)", rule[2]))
    return targets


# -- what starts it ------------------------------------------------------------------------------
def test_a_version_tag_is_the_only_trigger():
    on = triggers(load())
    assert set(on) == {"push"}, "no pull_request, workflow_dispatch, schedule or other event"
    assert set(on["push"]) == {"tags"}, "no branches: a push to a branch publishes nothing"
    assert on["push"]["tags"] and all(pattern.startswith("v") for pattern in on["push"]["tags"])


# -- what it runs --------------------------------------------------------------------------------
def test_every_action_is_pinned_to_a_full_commit_sha_with_its_version():
    used = [step["uses"] for _, step in steps(load()) if "uses" in step]
    assert used
    for uses in used:
        name, _, ref = uses.partition("@")
        assert SHA.fullmatch(ref), f"{uses}: pin to a 40-hex commit SHA, not a tag or branch"
    # The version each SHA is, in a comment on the same line (as Dependabot and Renovate keep it).
    lines = [line for line in WORKFLOW.read_text().splitlines() if re.match(r"\s*(- )?uses:", line)]
    assert len(lines) == len(used)
    for line in lines:
        assert re.search(r"@[0-9a-f]{40} # v\d+(\.\d+)*$", line), line


def test_no_job_gets_more_than_it_needs():
    workflow = load()
    assert workflow["permissions"] == {}, "nothing by default: each job says what it needs"
    for job_id, job in workflow["jobs"].items():
        permissions = job.get("permissions")
        assert isinstance(permissions, dict), f"{job_id}: its own permissions, not the default token's"
        assert set(permissions.values()) <= {"read", "write", "none"}
        # An OIDC token only where a Sigstore certificate is asked for: cosign, attestations.
        assert (permissions.get("id-token") == "write") == signs_or_attests(job), job_id
        if any(action(step) in ATTEST_ACTIONS for step in job["steps"]):
            assert permissions.get("attestations") == "write", job_id
        assert (permissions.get("packages") == "write") == ("docker login ghcr.io" in runs(job)), job_id
        assert (permissions.get("contents") == "write") == ("gh release create" in runs(job)), job_id
    build = workflow["jobs"]["build"]
    assert build["permissions"] == {"contents": "read"}, "the build holds no token that writes or signs"


def test_it_builds_and_checks_only_through_make_targets_that_make_test_runs():
    workflow = load()
    covered = make_targets_run_by_test()
    assert {"release", "check-release", "lint-workflows"} <= covered
    invoked = set()
    for job_id, step in steps(workflow):
        for command in re.findall(r"\bmake ([a-z][\w-]*)", step.get("run", "")):
            invoked.add(command)
            assert command in covered, f"{job_id}: make {command} is not run by `make test`"
        run = step.get("run", "")
        for builder in ("docker build", "podman build", "buildah", "pip install", "python", "pytest",
                        "build/", "sha256sum"):
            assert builder not in run, f"{job_id}: `{builder}` outside make: {run}"
    assert "release" in invoked and "check-release" in invoked
    assert "make release" in runs(workflow["jobs"]["build"])
    # The image and licences archives are made by the host's podman and tar: a runner image that
    # moves (ubuntu-latest) would change their bytes from one release to the next.
    assert re.fullmatch(r"ubuntu-\d\d\.\d\d", workflow["jobs"]["build"]["runs-on"])
    # The jobs that publish check the files they were handed against SHA256SUMS first.
    for job_id in ("image", "files"):
        assert "make check-release" in runs(workflow["jobs"][job_id]), job_id


def test_the_build_hands_over_exactly_what_make_release_wrote():
    workflow = load()
    upload = [step for step in workflow["jobs"]["build"]["steps"] if action(step) == "actions/upload-artifact"]
    assert len(upload) == 1 and upload[0]["with"]["path"].rstrip("/") == "dist/release"
    for job_id in ("image", "files"):
        download = [s for s in workflow["jobs"][job_id]["steps"] if action(s) == "actions/download-artifact"]
        assert len(download) == 1 and download[0]["with"]["name"] == upload[0]["with"]["name"]
        assert download[0]["with"]["path"] == "dist/release"


# -- what it publishes ---------------------------------------------------------------------------
def published_files(workflow: dict) -> list:
    (create,) = [step["run"] for _, step in steps(workflow) if "gh release create" in step.get("run", "")]
    words = shlex.split(create[create.index("gh release create"):].replace("\\\n", " "))
    files, skip = [], False
    for word in words[4:]:
        if skip:
            skip = False
        elif word.startswith("--"):
            skip = word in ("--repo", "--title", "--notes", "--target", "--notes-file")
        else:
            files.append(word)
    return files


def test_released_files_list_matches_what_make_release_writes():
    names = released_files()
    assert {"SHA256SUMS", "sidecar-killer-oci.tar", "LICENSES/", "sidecar-killer-licenses.tar"} <= names
    assert {f"sidecar-killer-linux-{arch}" for arch in ARCHES} <= names
    built = REPO / "dist" / "release"
    if (built / "SHA256SUMS").is_file():  # a release is built here: the list is what it holds
        assert {p.name + ("/" if p.is_dir() else "") for p in built.iterdir()} == names


def test_each_published_file_is_one_make_release_writes():
    workflow = load()
    published = published_files(workflow)
    written = released_files()
    assert SIGNATURE_BUNDLE in published
    assert len(published) == len(set(published))
    assert set(published) - {SIGNATURE_BUNDLE} <= written
    # Every file make release writes is published; LICENSES/ as its archive (a page holds no directory).
    assert set(published) - {SIGNATURE_BUNDLE} == {name for name in written if not name.endswith("/")}
    # The attestations name the same files.
    (provenance,) = [step for _, step in steps(workflow) if action(step) in ATTEST_ACTIONS
                     and "subject-path" in step["with"] and "sbom-path" not in step["with"]]
    subjects = {Path(p).name for p in provenance["with"]["subject-path"].split()}
    assert subjects == set(published) - {SIGNATURE_BUNDLE}
    assert all(p.startswith("dist/release/") for p in provenance["with"]["subject-path"].split())


def test_the_image_pushed_is_the_archive_as_built_under_the_version_and_the_tag():
    image = load()["jobs"]["image"]
    (push,) = [step for step in image["steps"] if "skopeo copy" in step.get("run", "")]
    run = push["run"]
    assert re.search(r"skopeo copy --all --preserve-digests .*\\\n\s*\"oci-archive:\$archive\" \"docker://\$image:\$tag\"", run)
    assert "archive=dist/release/sidecar-killer-oci.tar" in run
    assert 'for tag in "$VERSION" "$GITHUB_REF_NAME"' in run
    assert "image=ghcr.io/${GITHUB_REPOSITORY,,}" in run, "ghcr.io names are lower case"
    # The digest signed and attested is the archive's own index digest, checked against the push.
    assert "tar -xOf \"$archive\" index.json | jq -r '.manifests[0].digest'" in run
    assert '"$pushed" != "$built"' in run
    assert push["id"] == "push" and "$GITHUB_OUTPUT" in run


def test_cosign_signs_the_image_digest_and_sha256sums():
    workflow = load()
    image, files = workflow["jobs"]["image"], workflow["jobs"]["files"]
    (sign,) = [step for step in image["steps"] if "cosign sign " in step.get("run", "")]
    assert sign["run"].strip() == 'cosign sign --yes "$IMAGE@$DIGEST"', "by digest, never by tag"
    assert sign["env"] == {"IMAGE": "${{ steps.push.outputs.image }}", "DIGEST": "${{ steps.push.outputs.digest }}"}
    (blob,) = [step for step in files["steps"] if "cosign sign-blob" in step.get("run", "")]
    assert blob["run"].strip() == f"cosign sign-blob --yes --bundle {SIGNATURE_BUNDLE} SHA256SUMS"
    assert blob["working-directory"] == "dist/release"
    for job in (image, files):
        installer = [step for step in job["steps"] if action(step) == "sigstore/cosign-installer"]
        assert len(installer) == 1 and re.fullmatch(r"v\d+\.\d+\.\d+", installer[0]["with"]["cosign-release"])
        order = [i for i, step in enumerate(job["steps"]) if action(step) == "sigstore/cosign-installer"
                 or "cosign sign" in step.get("run", "")]
        assert order == sorted(order) and action(job["steps"][order[0]]) == "sigstore/cosign-installer"


def test_provenance_and_sbom_attestations_are_made():
    workflow = load()
    attestations = [(job_id, step) for job_id, step in steps(workflow) if action(step) in ATTEST_ACTIONS]
    # The image: provenance of the pushed digest, stored beside it in the registry.
    image = [step["with"] for job_id, step in attestations if job_id == "image"]
    assert image == [{"subject-name": "${{ steps.push.outputs.image }}",
                      "subject-digest": "${{ steps.push.outputs.digest }}",
                      "push-to-registry": True, "create-storage-record": False}]
    # The files: provenance of each binary (and every other published file) ...
    files = [step["with"] for job_id, step in attestations if job_id == "files"]
    provenance = [w for w in files if "sbom-path" not in w and "predicate-type" not in w]
    assert len(provenance) == 1
    for arch in ARCHES:
        assert f"dist/release/sidecar-killer-linux-{arch}" in provenance[0]["subject-path"].split()
    # ... and each binary's SBOM, attested for that binary.
    sboms = sorted((w["subject-path"], w["sbom-path"]) for w in files if "sbom-path" in w)
    assert sboms == [(f"dist/release/sidecar-killer-linux-{arch}", f"dist/release/sidecar-killer-linux-{arch}.spdx.json")
                     for arch in ARCHES]


def test_expressions_reach_shell_only_through_environment_variables():
    """A tag name or actor is data: `${{ }}` inside a run: script would be code (zizmor checks it too)."""
    for job_id, step in steps(load()):
        assert "${{" not in step.get("run", ""), f"{job_id}: {step.get('name')}"


# -- the lint ------------------------------------------------------------------------------------
LINTERS = ["actionlint", "check-jsonschema", "shellcheck", "zizmor"]


@pytest.fixture(scope="module")
def linters():
    missing = [tool for tool in LINTERS if not (REPO / ".venv" / "bin" / tool).exists()]
    if missing:
        message = f"{', '.join(missing)} not in .venv: `make venv` installs tests/requirements.txt"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def lint(target: str, workflow: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", "-C", str(REPO), target, f"WORKFLOWS={workflow}"],
                          capture_output=True, text=True, timeout=300)


def test_the_release_workflow_passes_each_linter(linters):
    for target in ("lint-actionlint", "lint-workflow-schema", "lint-zizmor"):
        result = lint(target, WORKFLOW)
        assert result.returncode == 0, f"{target}:\n{result.stdout}\n{result.stderr}"


def test_make_lint_workflows_lints_every_workflow():
    out = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(REPO), "lint-workflows"],
                         capture_output=True, text=True, timeout=60).stdout
    workflows = sorted(str(p.relative_to(REPO)) for p in (REPO / ".github" / "workflows").glob("*.y*ml"))
    assert workflows == [".github/workflows/release.yml"]
    for target in ("lint-actionlint", "lint-workflow-schema", "lint-zizmor"):
        assert re.search(rf"{target}\b.*WORKFLOWS=\"{' '.join(workflows)}\"", out), out


# Each: (the linter's make target, what breaks, the original text, the broken text, what it says).
BREAKS = [
    ("lint-actionlint", "a step output that does not exist",
     "DIGEST: ${{ steps.push.outputs.digest }}", "DIGEST: ${{ steps.pushed.outputs.digest }}",
     'property "pushed" is not defined'),
    ("lint-actionlint", "an unquoted variable in a run: script (shellcheck)",
     'echo "version=$version" >> "$GITHUB_OUTPUT"', "echo version=$version >> $GITHUB_OUTPUT", "SC2086"),
    ("lint-workflow-schema", "a permission level GitHub does not have",
     "      contents: write # the release page", "      contents: admin", "admin"),
    ("lint-zizmor", "an action pinned to a tag",
     "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1", "actions/checkout@v7", "unpinned-uses"),
    ("lint-zizmor", "a tag name expanded inside a script",
     "run: cosign sign --yes \"$IMAGE@$DIGEST\"",
     "run: cosign sign --yes ${{ steps.push.outputs.image }}@${{ steps.push.outputs.digest }}", "template-injection"),
]


@pytest.mark.parametrize("target, what, original, broken, says", BREAKS, ids=[b[1] for b in BREAKS])
def test_each_linter_fails_on_a_workflow_broken_the_way_it_checks(linters, tmp_path, target, what, original, broken, says):
    text = WORKFLOW.read_text()
    assert original in text, f"the workflow changed: update this case ({what})"
    bad = tmp_path / "release.yml"
    bad.write_text(text.replace(original, broken, 1))
    result = lint(target, bad)
    assert result.returncode != 0, f"{target} passed a workflow with {what}:\n{result.stdout}\n{result.stderr}"
    assert says in result.stdout + result.stderr
    # And the whole lint fails too.
    assert lint("lint-workflows", bad).returncode != 0
