#!/usr/bin/env python3
"""The Debian package (issue 21), a `ci` test.

    python3 test/package/test_package.py --cpack cpack --cpack-config build/CPackConfig.cmake --version 0.2.0

It runs `cpack -G DEB` on the build (into a temporary folder; the build itself
is not touched but for a folder deploy/install.cmake removes again) and checks
the package:

  1. the control fields (package, version, architecture, section, maintainer,
     the dependencies: adduser and the shared libraries' packages), and the
     control members: conffiles names /etc/synod/synod.conf, the maintainer
     scripts are executable and parse (sh -n);
  2. the contents, exactly: these files and no others, their modes, root's,
     /var/lib/synod 0700;
  3. what the files hold: the configuration and the copyright file as in
     deploy/, the changelog compressed reproducibly (gzip -n) with the
     package's version on top, stripped binaries, `synod --version` printing
     the package's version;
  4. lintian: no error (its whole output is printed);
  5. `systemd-analyze verify` of the unit in the unpacked package (--root, so
     ExecStart's binary is the packaged one): no complaint at all. Then it
     plants an unknown key and removes the binary, and requires verify to
     complain, so this step can fail. `systemd-analyze security` prints the
     unit's exposure;
  6. the sandbox lets synod work: synod from the package, with the packaged
     configuration (flags move its ports and data directory, so it may run
     beside other tests), runs under strace while it starts, takes writes,
     snapshots in a forked child (--snapshot-after-slots) and serves a backup
     (GET /v1/snapshot, forked too), then stops on SIGTERM with status 0.
     Every system call it made must be allowed by the unit's
     SystemCallFilter=, every socket family by its RestrictAddressFamilies=,
     and no mapping may be writable and executable (MemoryDenyWriteExecute=).

The long-tier test chroot_install.py installs the same package in a bare
Debian 12 root. Exit status 0 passed, 1 failed.
"""
import argparse
import contextlib
import glob
import gzip
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SOURCE, "test"))
from pylib.cluster import free_ports  # noqa: E402 (needs the path above)
from pylib.http import request  # noqa: E402
from pylib.wait import until  # noqa: E402

TOOLS = {"dpkg-deb": "dpkg", "lintian": "lintian", "systemd-analyze": "systemd", "strace": "strace",
         "readelf": "binutils"}
# What the package holds besides directories: path -> mode as dpkg-deb -c prints it.
FILES = {
    "./etc/synod/synod.conf": "-rw-r--r--",
    "./usr/bin/synod": "-rwxr-xr-x",
    "./usr/bin/synodctl": "-rwxr-xr-x",
    "./usr/lib/systemd/system/synod.service": "-rw-r--r--",
    "./usr/share/doc/synod/changelog.gz": "-rw-r--r--",
    "./usr/share/doc/synod/copyright": "-rw-r--r--",
    "./usr/share/lintian/overrides/synod": "-rw-r--r--",
}
STATE_DIR = "./var/lib/synod/"
# The sandbox and policy, besides what systemd-analyze verify checks.
UNIT_SETTINGS = ["User=synod", "Group=synod", "ProtectSystem=strict", "NoNewPrivileges=yes", "Restart=on-failure",
                 "StateDirectory=synod", "StateDirectoryMode=0700"]


class Failure(Exception):
    pass


def log(message=""):
    print(message, flush=True)


def run(argv, check=True, **kwargs):
    result = subprocess.run(argv, text=True, capture_output=True, timeout=kwargs.pop("timeout", 300), **kwargs)
    if check and result.returncode != 0:
        raise Failure(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return result


def expect(condition, message):
    if not condition:
        raise Failure(message)


def architecture():
    return run(["dpkg", "--print-architecture"]).stdout.strip()


def build_deb(cpack, cpack_config, version, out_dir):
    """cpack -G DEB into out_dir; the path of synod_<version>_<arch>.deb."""
    result = run([cpack, "-G", "DEB", "--config", cpack_config, "-B", out_dir], check=False, cwd=out_dir,
                 timeout=600)
    if result.returncode != 0:
        raise Failure(f"cpack -G DEB exited {result.returncode}:\n{result.stdout}{result.stderr}")
    name = f"synod_{version}_{architecture()}.deb"
    deb = os.path.join(out_dir, name)
    found = [os.path.basename(p) for p in glob.glob(os.path.join(out_dir, "*.deb"))]
    expect(found == [name], f"cpack made {found}, expected exactly {name}")
    return deb


# ---------------------------------------------------------------- 1. control

def control_fields(deb):
    text = run(["dpkg-deb", "-f", deb]).stdout
    fields, last = {}, None
    for line in text.splitlines():
        if line.startswith(" ") and last:
            fields[last] += "\n" + line
        elif ":" in line:
            last, value = line.split(":", 1)
            fields[last] = value.strip()
    return fields


def check_control(deb, version, work):
    fields = control_fields(deb)
    log("control: " + ", ".join(f"{k}: {v.splitlines()[0]}" for k, v in fields.items()))
    expected = {"Package": "synod", "Version": version, "Architecture": architecture(), "Section": "net",
                "Priority": "optional"}
    for key, value in expected.items():
        expect(fields.get(key) == value, f"control field {key} is {fields.get(key)!r}, expected {value!r}")
    expect(re.fullmatch(r".+ <[^<>@\s]+@[^<>\s]+>", fields.get("Maintainer", "")),
           f"Maintainer {fields.get('Maintainer')!r} is not 'Name <address>'")
    expect("\n" in fields.get("Description", ""), "Description has no long description")
    depends = {re.split(r"[\s(]", d.strip())[0] for d in fields.get("Depends", "").split(",") if d.strip()}
    # adduser for the postinst; the rest are the libraries synod and synodctl
    # link (dpkg-shlibdeps: missing when cpack found no dpkg-shlibdeps).
    for package in ("adduser", "libc6", "libstdc++6", "libssl3", "liblmdb0"):
        expect(package in depends, f"Depends ({fields.get('Depends')!r}) lacks {package}")

    control = os.path.join(work, "control")
    run(["dpkg-deb", "-e", deb, control])
    with open(os.path.join(control, "conffiles")) as f:
        conffiles = f.read().split()
    expect(conffiles == ["/etc/synod/synod.conf"], f"conffiles lists {conffiles}, expected /etc/synod/synod.conf")
    for script in ("postinst", "prerm", "postrm"):
        path = os.path.join(control, script)
        mode = os.stat(path).st_mode & 0o777
        expect(mode == 0o755, f"{script} has mode {mode:o}, expected 755")
        run(["sh", "-n", path])
        with open(path) as f:
            expect(f.read() == open(os.path.join(SOURCE, "deploy", "debian", script)).read(),
                   f"the package's {script} differs from deploy/debian/{script}")
    log("control: fields, Depends, conffiles and the maintainer scripts as expected")


# ---------------------------------------------------------------- 2. contents

def check_contents(deb):
    listing = run(["dpkg-deb", "-c", deb]).stdout
    entries = {}
    for line in listing.splitlines():
        parts = line.split(None, 5)
        expect(len(parts) == 6, f"unexpected dpkg-deb -c line {line!r}")
        mode, owner, path = parts[0], parts[1], parts[5]
        expect(owner == "root/root", f"{path} belongs to {owner}, not root/root")
        entries[path] = mode
    files = {p: m for p, m in entries.items() if not m.startswith("d")}
    expect(files == FILES, "the package's files are not the expected ones:\n"
           f"  unexpected: {sorted(set(files.items()) - set(FILES.items()))}\n"
           f"  missing:    {sorted(set(FILES.items()) - set(files.items()))}")
    expect(entries.get(STATE_DIR) == "drwx------", f"{STATE_DIR} is {entries.get(STATE_DIR)}, expected drwx------")
    odd = {p: m for p, m in entries.items() if m.startswith("d") and p != STATE_DIR and m != "drwxr-xr-x"}
    expect(not odd, f"directories not 0755: {odd}")
    log(f"contents: {len(files)} files and {len(entries) - len(files)} directories, modes as expected:\n"
        + "\n".join("  " + line for line in listing.splitlines() if not line.split()[0].startswith("d")
                    or line.rstrip().endswith(STATE_DIR)))


# ---------------------------------------------------------------- 3. files

def same_as_source(root, packaged, source):
    with open(os.path.join(root, packaged.lstrip("./")), "rb") as a, open(os.path.join(SOURCE, source), "rb") as b:
        expect(a.read() == b.read(), f"{packaged} differs from {source}")


def check_files(root, version):
    same_as_source(root, "./etc/synod/synod.conf", "deploy/synod.conf")
    same_as_source(root, "./usr/share/doc/synod/copyright", "deploy/debian/copyright")
    same_as_source(root, "./usr/share/lintian/overrides/synod", "deploy/debian/lintian-overrides")
    with open(os.path.join(root, "usr/share/doc/synod/changelog.gz"), "rb") as f:
        compressed = f.read()
    # gzip -n: no file name (flag 0x08) and no time stamp, so the package is the same from any build.
    expect(compressed[:3] == b"\x1f\x8b\x08" and not compressed[3] & 0x08 and compressed[4:8] == b"\0\0\0\0",
           "changelog.gz was not made with gzip -n (it holds a file name or a time stamp)")
    changelog = gzip.decompress(compressed).decode()
    with open(os.path.join(SOURCE, "deploy", "debian", "changelog")) as f:
        expect(changelog == f.read(), "changelog.gz is not deploy/debian/changelog")
    top = re.match(r"synod \(([^)]+)\) ", changelog)
    expect(top and top.group(1) == version,
           f"deploy/debian/changelog's newest entry is {top.group(1) if top else None!r}, the package's version "
           f"is {version}: add an entry for it")
    for binary in ("usr/bin/synod", "usr/bin/synodctl"):
        sections = run(["readelf", "-S", "--wide", os.path.join(root, binary)]).stdout
        left = sorted(set(re.findall(r"\s(\.symtab|\.debug_\w+)\s", sections)))
        expect(not left, f"{binary} is not stripped: it has {left}")
    printed = run([os.path.join(root, "usr/bin/synod"), "--version"]).stdout.strip()
    expect(printed.startswith(f"synod {version} "), f"the packaged synod --version prints {printed!r}, "
           f"the package's version is {version}")
    with open(os.path.join(root, "usr/lib/systemd/system/synod.service")) as f:
        unit = f.read()
    for setting in UNIT_SETTINGS:
        expect(re.search(rf"^{re.escape(setting)}$", unit, re.M), f"synod.service lacks {setting}")
    log(f"files: the configuration, copyright and changelog as in deploy/ (changelog gzip -n, newest {version}), "
        f"binaries stripped, `synod --version`: {printed}")
    return unit


# ---------------------------------------------------------------- 4. lintian

def check_lintian(deb):
    result = run(["lintian", "--display-info", "--pedantic", "--show-overrides", "--tag-display-limit", "0", deb],
                 check=False)
    output = (result.stdout + result.stderr).strip()
    log("lintian --display-info --pedantic --show-overrides:\n" + "\n".join("  " + l for l in output.splitlines()))
    errors = [l for l in output.splitlines() if l.startswith("E:")]
    expect(not errors and result.returncode == 0,
           f"lintian exited {result.returncode} with {len(errors)} error(s): {errors}")
    counts = {kind: sum(1 for l in output.splitlines() if l.startswith(kind + ":")) for kind in "EWIPO"}
    log("lintian: no errors ({E} E, {W} W, {I} I, {P} P, {O} overridden)".format(**counts))


# ---------------------------------------------------------------- 5. systemd-analyze

def host_unit_dir():
    for path in ("/usr/lib/systemd/system", "/lib/systemd/system"):
        if os.path.exists(os.path.join(path, "sysinit.target")):
            return path
    raise Failure("no sysinit.target in /usr/lib/systemd/system or /lib/systemd/system: "
                  "install Debian's systemd (deploy/install-deps.sh --test)")


def verify(root):
    result = run(["systemd-analyze", "verify", f"--root={root}", "synod.service"], check=False)
    return result.returncode, (result.stdout + result.stderr).strip()


def check_unit(root):
    # verify starts the unit's dependencies too (sysinit.target, ...): the
    # unpacked package gets the host's own units beside its synod.service.
    units = os.path.join(root, "usr/lib/systemd/system")
    for name in os.listdir(host_unit_dir()):
        if not os.path.lexists(os.path.join(units, name)):
            source = os.path.join(host_unit_dir(), name)
            if os.path.islink(source):
                os.symlink(os.readlink(source), os.path.join(units, name))
            elif os.path.isdir(source):
                shutil.copytree(source, os.path.join(units, name), symlinks=True)
            else:
                shutil.copy2(source, os.path.join(units, name))
    code, output = verify(root)
    expect(code == 0 and not output, f"systemd-analyze verify --root {root} synod.service exited {code}:\n{output}")
    log("systemd-analyze verify: synod.service, with the packaged /usr/bin/synod, has no complaint")

    # The same check must fail on a planted mistake and on a missing binary.
    unit_path = os.path.join(units, "synod.service")
    with open(unit_path) as f:
        unit = f.read()
    try:
        with open(unit_path, "w") as f:
            f.write(unit.replace("[Service]\n", "[Service]\nProtectSystm=strict\n"))
        code, output = verify(root)
        expect("ProtectSystm" in output, f"verify did not notice a misspelt key (exit {code}): {output!r}")
    finally:
        with open(unit_path, "w") as f:
            f.write(unit)
    binary = os.path.join(root, "usr/bin/synod")
    os.rename(binary, binary + ".away")
    try:
        code, output = verify(root)
        expect(code != 0 and "/usr/bin/synod" in output,
               f"verify did not notice a missing /usr/bin/synod (exit {code}): {output!r}")
    finally:
        os.rename(binary + ".away", binary)
    log("systemd-analyze verify: and it complains of a misspelt key and of a missing /usr/bin/synod")
    result = run(["systemd-analyze", "security", "--offline=yes", f"--root={root}", "synod.service"], check=False)
    exposure = [l for l in result.stdout.splitlines() if "exposure level" in l]
    log("systemd-analyze security: " + (exposure[0].strip("→ ").strip() if exposure else result.stdout[-300:]))


# ---------------------------------------------------------------- 6. the sandbox

def syscall_groups():
    """{'@group': {members, '@nested', ...}} from systemd-analyze syscall-filter."""
    groups, current = {}, None
    for line in run(["systemd-analyze", "syscall-filter", "--no-pager"]).stdout.splitlines():
        if line.startswith("@"):
            current = line.strip()
            groups[current] = set()
        elif line.startswith("    ") and current and not line.strip().startswith("#"):
            groups[current].add(line.strip())
        elif not line.strip():
            current = None
    return groups


def expand(names, groups, seen=None):
    seen = set() if seen is None else seen
    calls = set()
    for name in names:
        if name.startswith("@"):
            if name in seen:
                continue
            seen.add(name)
            if name not in groups:
                raise Failure(f"systemd-analyze syscall-filter knows no group {name}")
            calls |= expand(groups[name], groups, seen)
        else:
            calls.add(name)
    return calls


def allowed_syscalls(unit):
    """The system calls SystemCallFilter= lines allow, as systemd reads them:
    the first allow list, then each ~ line takes its calls away."""
    groups = syscall_groups()
    allowed = None
    for value in re.findall(r"^SystemCallFilter=(.*)$", unit, re.M):
        deny = value.startswith("~")
        names = set(value.lstrip("~").split())
        calls = expand(names, groups)
        if deny:
            expect(allowed is not None, "a ~ SystemCallFilter= line before any allow list")
            allowed -= calls
        else:
            allowed = calls if allowed is None else allowed | calls
    expect(allowed, "synod.service has no SystemCallFilter= allow list")
    return allowed


def traced_child(strace_pid):
    with open(f"/proc/{strace_pid}/task/{strace_pid}/children") as f:
        children = f.read().split()
    expect(len(children) == 1, f"strace (pid {strace_pid}) has children {children}, expected synod alone")
    return int(children[0])


def check_sandbox(root, unit, work):
    allowed = allowed_syscalls(unit)
    families = set(re.search(r"^RestrictAddressFamilies=(.*)$", unit, re.M).group(1).split())
    data = os.path.join(work, "data")
    client, peer = free_ports(2)
    trace = os.path.join(work, "strace.txt")
    node_log = os.path.join(work, "node.log")
    argv = ["strace", "-f", "-qq", "-o", trace,
            os.path.join(root, "usr/bin/synod"), "--config", os.path.join(root, "etc/synod/synod.conf"),
            "--data-dir", data, "--peers", f"1=127.0.0.1:{peer}", "--clients", f"1=127.0.0.1:{client}",
            "--snapshot-after-slots", "5"]
    log(f"sandbox: {' '.join(argv[5:])}, under strace")
    with open(node_log, "w") as out:
        node = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        until(lambda: node.poll() is not None or request(client, "GET", "/readyz", timeout=2).status == 200, 60,
              "GET /readyz 200 (a leader) from synod with the packaged configuration")
        expect(node.poll() is None, f"synod exited {node.returncode}: {open(node_log).read()[-2000:]}")
        for i in range(12):
            answer = request(client, "PUT", f"/v1/kv/package-{i}", body=f"value {i}", timeout=10)
            expect(answer.status == 200, f"PUT /v1/kv/package-{i}: {answer!r}")
        until(lambda: '"event":"snapshot"' in open(node_log).read(), 30, "a snapshot (forked) in the node's log")
        backup = request(client, "GET", "/v1/snapshot", timeout=30)
        expect(backup.status == 200 and backup.raw, f"GET /v1/snapshot: {backup!r}")
        # The signal goes to synod, strace's child; strace exits with its status.
        os.kill(traced_child(node.pid), signal.SIGTERM)
        code = node.wait(timeout=60)
        expect(code == 0, f"synod exited {code} on SIGTERM: {open(node_log).read()[-2000:]}")
    finally:
        if node.poll() is None:
            with contextlib.suppress(Failure, OSError):
                os.kill(traced_child(node.pid), signal.SIGKILL)
            node.kill()
            node.wait()
    with open(trace) as f:
        traced = f.read()
    used = set(re.findall(r"^\d+\s+(?:<\.\.\. )?([a-z_0-9]+)(?:\(| resumed>)", traced, re.M))
    pids = set(re.findall(r"^(\d+)\s", traced, re.M))
    expect({"clone", "clone3"} & used and "wait4" in used,
           f"strace saw no fork (clone) and wait: the check did not see the snapshot child ({sorted(used)})")
    forbidden = sorted(used - allowed)
    expect(not forbidden, f"synod made system calls its unit's SystemCallFilter= forbids: {forbidden} "
           "(they would fail with EPERM under systemd)")
    # MemoryDenyWriteExecute=yes refuses a mapping both writable and
    # executable, and making memory executable later (mprotect).
    if re.search(r"^MemoryDenyWriteExecute=yes$", unit, re.M):
        wx = re.findall(r"^\d+\s+(?:mmap\([^\n]*PROT_WRITE\|PROT_EXEC|mmap\([^\n]*PROT_EXEC\|PROT_WRITE|"
                        r"mprotect\([^\n]*PROT_EXEC)[^\n]*$", traced, re.M)
        expect(not wx, f"synod maps memory that MemoryDenyWriteExecute=yes refuses: {wx[:3]}")
    socket_families = set(re.findall(r"\bsocket\((AF_\w+)", traced))
    expect(socket_families and socket_families <= families,
           f"synod opened sockets of {sorted(socket_families)}; RestrictAddressFamilies= allows {sorted(families)}")
    log(f"sandbox: synod started from the packaged configuration, took 12 writes, snapshotted and served a backup "
        f"in forked children ({len(pids)} processes and threads), and stopped with status 0 on SIGTERM; its "
        f"{len(used)} distinct system calls are all allowed by SystemCallFilter= ({len(allowed)} calls), its "
        f"sockets ({', '.join(sorted(socket_families))}) by RestrictAddressFamilies=; no memory both "
        "writable and executable")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpack", default="cpack")
    parser.add_argument("--cpack-config", required=True, help="the build's CPackConfig.cmake")
    parser.add_argument("--version", required=True, help="the project's version (PROJECT_VERSION)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    args.cpack_config = os.path.abspath(args.cpack_config)
    missing = [f"{tool} (Debian's {package})" for tool, package in TOOLS.items() if shutil.which(tool) is None]
    if missing:
        log(f"FAIL: missing: {', '.join(missing)}; deploy/install-deps.sh --test installs them")
        return 1
    started = time.time()
    work = tempfile.mkdtemp(prefix="synod-package-")
    ok = False
    try:
        deb = build_deb(args.cpack, args.cpack_config, args.version, work)
        log(f"cpack: {deb} ({os.path.getsize(deb)} bytes) in {time.time() - started:.1f} s")
        check_control(deb, args.version, work)
        check_contents(deb)
        root = os.path.join(work, "root")
        run(["dpkg-deb", "-x", deb, root])
        unit = check_files(root, args.version)
        check_lintian(deb)
        check_unit(root)
        check_sandbox(root, unit, work)
        ok = True
    except Failure as error:
        log(f"\nFAIL: {error}")
    finally:
        if ok and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"kept: {work}")
    log(f"{'PASS' if ok else 'FAILED'} in {time.time() - started:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
