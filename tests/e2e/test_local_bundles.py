"""cutover local bundle types: tar, tgz, zip, unwrapping, --sha256, archives that try to
write outside the root, and the real-world appspec corpus."""
import hashlib
import io
import os
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from localbundle import run_local, script, write_bundle

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "fixtures" / "appspec-corpus"


def appspec(dest):
    return (f"version: 0.0\nos: linux\nfiles:\n  - source: /app\n    destination: {dest}\n"
            "hooks:\n  AfterInstall:\n    - location: scripts/ok.sh\n")


def make_tree(tmp_path, dest):
    return write_bundle(tmp_path / "tree", appspec(dest), {
        "app/index.html": "hi\n", "app/lib/x.js": "x\n", "scripts/ok.sh": script("echo ok")})


def tar_of(tree, out, mode, prefix=""):
    with tarfile.open(out, mode) as t:
        for name in sorted(os.listdir(tree)):
            t.add(tree / name, arcname=prefix + name)
    return out


def zip_of(tree, out, prefix=""):
    with zipfile.ZipFile(out, "w") as z:
        for dirpath, _, files in os.walk(tree):
            for f in files:
                full = Path(dirpath) / f
                info = zipfile.ZipInfo(prefix + str(full.relative_to(tree)))
                info.external_attr = (full.stat().st_mode & 0xFFFF) << 16
                z.writestr(info, full.read_bytes())
    return out


@pytest.mark.parametrize("kind", ["tar", "tgz", "zip"])
def test_archive_bundles_deploy(cutover, tmp_path, kind):
    dest, root = tmp_path / "dest", tmp_path / "root"
    tree = make_tree(tmp_path, dest)
    if kind == "zip":
        archive = zip_of(tree, tmp_path / "b.zip")
    else:
        archive = tar_of(tree, tmp_path / f"b.{kind}", "w:gz" if kind == "tgz" else "w")
    r = run_local(cutover, root, "-l", archive, "-t", kind)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (dest / "index.html").read_text() == "hi\n"
    assert (dest / "lib" / "x.js").read_text() == "x\n"
    ddir = root / "default-local-deployment-group" / r.report["deploymentId"]
    assert (ddir / "bundle.tar").read_bytes() == archive.read_bytes()
    # the type is guessed from the name when not given
    assert run_local(cutover, root / "again", "-l", archive, "-b", "OVERWRITE").returncode == 0


def test_single_top_directory_is_unwrapped(cutover, tmp_path):
    dest, root = tmp_path / "dest", tmp_path / "root"
    tree = make_tree(tmp_path, dest)
    archive = tar_of(tree, tmp_path / "wrapped.tgz", "w:gz", prefix="myapp-1.0/")
    r = run_local(cutover, root, "-l", archive)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (dest / "index.html").exists()
    wrapped_dir = tmp_path / "wrapped-dir"
    shutil.copytree(tree, wrapped_dir / "inner")
    r = run_local(cutover, root / "d", "-l", wrapped_dir, "-b", "OVERWRITE")
    assert r.returncode == 0, r.stdout + r.stderr


def test_sha256_is_verified(cutover, tmp_path):
    dest, root = tmp_path / "dest", tmp_path / "root"
    archive = tar_of(make_tree(tmp_path, dest), tmp_path / "b.tar", "w")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    bad = run_local(cutover, root, "-l", archive, "--sha256", "0" * 64)
    assert bad.returncode == 2 and f"sha256 is {digest}" in bad.stderr
    assert not dest.exists()
    ok = run_local(cutover, root, "-l", archive, "--sha256", digest.upper())
    assert ok.returncode == 0, ok.stderr


def evil_tar(path, members):
    with tarfile.open(path, "w") as t:
        for name, kind, data in members:
            info = tarfile.TarInfo(name)
            if kind == "link":
                info.type = tarfile.SYMTYPE
                info.linkname = data
                t.addfile(info)
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                t.addfile(info)
            else:
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    return path


SPEC = b"version: 0.0\nos: linux\n"


@pytest.mark.parametrize("members,why", [
    ([("appspec.yml", "file", SPEC), ("../outside.txt", "file", b"x")], "contains '..'"),
    ([("appspec.yml", "file", SPEC), ("{abs}", "file", b"x")], "absolute path"),
    ([("appspec.yml", "file", SPEC), ("esc", "link", "{out}"), ("esc/outside.txt", "file", b"x")],
     "goes through symlink 'esc'"),
    ([("appspec.yml", "file", SPEC), ("d", "dir", None), ("d/up", "link", "../.."),
      ("d/up/outside.txt", "file", b"x")], "goes through symlink 'd/up'"),
])
def test_tar_escaping_the_root_is_refused_before_writing(cutover, tmp_path, members, why):
    out = tmp_path / "outside"
    out.mkdir()
    members = [(n.format(abs=str(out / "outside.txt")), k,
                d.format(out=str(out)) if isinstance(d, str) else d) for n, k, d in members]
    archive = evil_tar(tmp_path / "evil.tar", members)
    root = tmp_path / "root"
    r = run_local(cutover, root, "-l", archive, "-t", "tar")
    assert r.returncode == 2
    assert why in r.stderr and str(archive) in r.stderr
    assert os.listdir(out) == []
    assert not (tmp_path / "outside.txt").exists()
    assert list((root / "default-local-deployment-group").iterdir()) == []


def test_zip_escaping_the_root_is_refused_before_writing(cutover, tmp_path):
    out = tmp_path / "outside"
    out.mkdir()
    root = tmp_path / "root"
    for name in ["../../outside/evil.txt", str(out / "evil.txt")]:
        archive = tmp_path / "evil.zip"
        with zipfile.ZipFile(archive, "w") as z:
            z.writestr("appspec.yml", SPEC)
            z.writestr("ok.txt", b"fine")  # written only if the whole archive is safe
            z.writestr(zipfile.ZipInfo(name), b"x")
        r = run_local(cutover, root, "-l", archive, "-t", "zip")
        assert r.returncode == 2, r.stdout + r.stderr
        assert "evil.txt" in r.stderr
        assert os.listdir(out) == []
    # a zip symlink followed by an entry through it
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("appspec.yml", SPEC)
        link = zipfile.ZipInfo("esc")
        link.external_attr = (0o120777 << 16)
        link.create_system = 3
        z.writestr(link, str(out))
        z.writestr("esc/evil.txt", b"x")
    r = run_local(cutover, root, "-l", archive, "-t", "zip")
    assert r.returncode == 2 and "goes through symlink 'esc'" in r.stderr
    assert os.listdir(out) == []


def test_bundle_without_appspec_is_refused(cutover, tmp_path):
    archive = evil_tar(tmp_path / "empty.tar", [("a/readme", "file", b"x"),
                                                ("b/readme", "file", b"y")])
    r = run_local(cutover, tmp_path / "root", "-l", archive)
    assert r.returncode == 2 and "no appspec.yml at the root of the bundle" in r.stderr


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.yml")))
def test_corpus_agrees_with_the_reference(cutover, tmp_path, name):
    b = tmp_path / "b"
    b.mkdir()
    shutil.copy(CORPUS / name, b / "appspec.yml")
    r = run_local(cutover, tmp_path / "root", "-l", b, "--check", json_output=False)
    if "INVALID" in name:
        assert r.returncode == 2
        assert "appspec.yml:1:10: invalid version value (0.1) (expected 0.0)" in r.stderr
    else:
        assert r.returncode == 0, r.stderr


def test_example_bundle_is_valid(cutover, tmp_path):
    r = run_local(cutover, tmp_path / "root", "-l", REPO / "examples" / "bundles" / "hello",
                  "--check", json_output=False)
    assert r.returncode == 0, r.stderr


def test_device_entries_are_refused(cutover, tmp_path):
    archive = tmp_path / "dev.tar"
    with tarfile.open(archive, "w") as t:
        info = tarfile.TarInfo("appspec.yml")
        info.size = len(SPEC)
        t.addfile(info, io.BytesIO(SPEC))
        dev = tarfile.TarInfo("null")
        dev.type, dev.devmajor, dev.devminor = tarfile.CHRTYPE, 1, 3
        t.addfile(dev)
    r = run_local(cutover, tmp_path / "root", "-l", archive)
    assert r.returncode == 2 and "entry 'null': a device, fifo or socket" in r.stderr


def test_hard_links_inside_the_archive_are_kept(cutover, tmp_path):
    tree, dest = tmp_path / "t", tmp_path / "dest"
    write_bundle(tree, f"version: 0.0\nos: linux\nfiles:\n  - source: app\n    destination: {dest}\n",
                 {"app/a": "same"})
    os.link(tree / "app" / "a", tree / "app" / "b")
    (tree / "app" / "c").symlink_to("a")
    archive = tar_of(tree, tmp_path / "h.tgz", "w:gz", prefix="./")
    r = run_local(cutover, tmp_path / "root", "-l", archive)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (dest / "b").read_text() == "same" and os.readlink(dest / "c") == "a"


def test_appspec_after_two_other_top_level_entries(cutover, tmp_path):
    """`tar -C dir .` stores entries in directory order: the appspec may come after several
    other top-level names (and every name starts with "./")."""
    dest, root = tmp_path / "dest", tmp_path / "root"
    tree = make_tree(tmp_path, dest)
    (tree / "zzz").mkdir()
    (tree / "zzz" / "notes.txt").write_text("later\n")
    archive = tmp_path / "dot.tgz"
    names = sorted(os.listdir(tree), key=lambda n: (n == "appspec.yml", n))   # appspec last
    with tarfile.open(archive, "w:gz") as t:
        t.add(tree, arcname=".", recursive=False)
        for name in names:
            t.add(tree / name, arcname="./" + name)
    r = run_local(cutover, root / "d", "-l", archive)
    assert r.returncode == 0, r.stdout + r.stderr
