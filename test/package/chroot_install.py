#!/usr/bin/env python3
"""The Debian package installed on a bare Debian 12 root (issue 21), a `long` test.

    sudo python3 test/package/chroot_install.py --cpack cpack --cpack-config build/CPackConfig.cmake --version 0.2.0

It makes the package from the build (cpack -G DEB, as test_package.py does),
and installs it on a bare `debootstrap --variant=minbase bookworm` root, the
one test/fresh_machine/fresh_machine.py builds, caches and mounts (this test
imports its code), in a chroot, where no systemd runs:

  1. `apt-get install ./synod_<version>_<arch>.deb`, in the host's network
     namespace (apt fetches the dependencies, adduser and the libraries, from
     the mirror): the maintainer scripts must work without systemd;
  2. the synod system user and group exist (a system uid, home
     /var/lib/synod, no login shell), /var/lib/synod is 0700 synod:synod,
     /etc/synod/synod.conf is a conffile, `synod --version` names the version;
  3. synod starts the way the unit would start it: its ExecStart=, as its
     User= and Group= (setpriv), with its UMask=, and the packaged
     configuration as it is (a one-member cluster on 127.0.0.1), in a network
     namespace of its own, so its ports cannot collide with the host's. It must
     become ready (GET /readyz 200, seen from its namespace), run as the synod
     user, take a write from the packaged synodctl, keep its data as synod's,
     and stop on SIGTERM with status 0;
  4. `dpkg -i` of the same package again (the upgrade path of the maintainer
     scripts) keeps an edited configuration, the directory's owner and mode,
     and the data: synod starts again and still has the write;
  5. `apt-get purge synod` removes /etc/synod but keeps the data and the user
     (docs/operations.md says why).

Root, the mirror and the cleanup (processes, mounts, the root) are handled as in
fresh_machine.py. Exit status: 0 passed, 1 failed, 77 skipped (not root, or the
mirror cannot be reached).
"""
import argparse
import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SOURCE, "test", "fresh_machine"))
import fresh_machine as fm  # noqa: E402 (the bare root: debootstrap, cache, mounts, cleanup)
import test_package  # noqa: E402 (cpack -G DEB)

SKIP = fm.SKIP
MARKER = "chroot_install"  # in the command line of a live run, for clean_stale_runs
WRITTEN = ("package-test", "written from the chroot")


class Failure(fm.Failure):
    pass


def expect(condition, message):
    if not condition:
        raise Failure(message)


class Chroot:
    def __init__(self, root, log_dir):
        self.root = root
        self.log_dir = log_dir

    def sh(self, command, check=True, timeout=120):
        """bash -c COMMAND in the chroot (host network namespace); its stdout."""
        result = fm.run(fm.chroot_argv(self.root, command, cwd="/"), check=False, capture_output=True,
                        timeout=timeout)
        if check and result.returncode != 0:
            raise Failure(f"in the chroot, `{command}` exited {result.returncode}:\n{result.stdout}{result.stderr}")
        return result.stdout.strip()

    def streamed(self, command, name, timeout):
        """A long command (apt), its output printed and kept in the log folder."""
        fm.log(f"\n== {name}: `{command}` in the chroot")
        started = time.time()
        step = fm.Streamed(fm.chroot_argv(self.root, command, cwd="/"), os.path.join(self.log_dir, f"{name}.log"),
                           f"  {name}| ")
        try:
            code = step.wait(timeout)
        finally:
            step.close()
        expect(code == 0, f"{name}: `{command}` exited {code}; the end of its output:\n" + "\n".join(step.tail[-20:]))
        fm.log(f"{name}: done in {time.time() - started:.1f} s")

    def path(self, inside):
        return os.path.join(self.root, inside.lstrip("/"))


def unit_settings(chroot):
    with open(chroot.path("/usr/lib/systemd/system/synod.service")) as f:
        unit = f.read()
    settings = {}
    for key in ("ExecStart", "User", "Group", "UMask"):
        values = re.findall(rf"^{key}=(.*)$", unit, re.M)
        expect(len(values) == 1, f"the installed synod.service has {len(values)} {key}= lines, expected one")
        settings[key] = values[0].strip()
    return settings


def client_address(chroot):
    """This member's client address in the installed /etc/synod/synod.conf."""
    with open(chroot.path("/etc/synod/synod.conf")) as f:
        active = dict(re.findall(r"^([a-z_]+)\s*=\s*(.*?)\s*$", f.read(), re.M))
    expect("id" in active and "clients" in active, f"the packaged configuration sets no id or clients: {active}")
    members = dict(entry.split("=", 1) for entry in active["clients"].split(","))
    expect(active["id"] in members, f"clients = {active['clients']} has no entry for id {active['id']}")
    return members[active["id"]]


def check_installed(chroot, version):
    status = chroot.sh("dpkg-query -W -f='${Status} ${Version}' synod")
    expect(status == f"install ok installed {version}", f"dpkg-query says synod is '{status}'")
    passwd = chroot.sh("getent passwd synod").split(":")
    group = chroot.sh("getent group synod").split(":")
    expect(len(passwd) == 7 and len(group) >= 3, f"no synod user and group: {passwd} {group}")
    uid, gid, home, shell = int(passwd[2]), int(passwd[3]), passwd[5], passwd[6]
    expect(uid < 1000, f"synod's uid is {uid}: not a system user")
    expect(gid == int(group[2]), f"synod's primary group is {gid}, the synod group is {group[2]}")
    expect(home == "/var/lib/synod", f"synod's home is {home}, expected /var/lib/synod")
    expect(shell in ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false"), f"synod's shell is {shell}: it may log in")
    state = chroot.sh("stat -c '%a %U:%G' /var/lib/synod")
    expect(state == "700 synod:synod", f"/var/lib/synod is {state}, expected 700 synod:synod")
    conffiles = chroot.sh("dpkg-query -W -f='${Conffiles}' synod")
    expect(re.search(r"^\s*/etc/synod/synod\.conf [0-9a-f]{32}$", conffiles, re.M),
           f"/etc/synod/synod.conf is no conffile: {conffiles!r}")
    expect(not os.path.exists(chroot.path("/run/systemd/system")), "systemd runs in the chroot?")
    printed = chroot.sh("synod --version")
    expect(printed.startswith(f"synod {version} "), f"synod --version prints {printed!r}")
    fm.log(f"installed: synod {version}; user synod uid {uid} gid {gid}, home {home}, shell {shell}; "
           f"/var/lib/synod {state}; /etc/synod/synod.conf a conffile; no systemd; `synod --version`: {printed}")
    return uid


def curl_in(pid, url):
    """(status, body) of GET url from synod's network namespace, with the host's curl."""
    result = fm.run(fm.in_netns_of(pid, ["curl", "-s", "--max-time", "2", "-w", "\n%{http_code}", url]),
                    check=False, capture_output=True, timeout=15)
    body, _, code = result.stdout.rpartition("\n")
    return int(code) if code.isdigit() else 0, body


def synodctl_in(chroot, pid, address, *args):
    argv = fm.in_netns_of(pid, ["chroot", chroot.root, "/usr/bin/synodctl", "--endpoints", address, *args])
    result = fm.run(argv, check=False, capture_output=True, timeout=30)
    expect(result.returncode == 0, f"synodctl {' '.join(args)} exited {result.returncode}: {result.stderr}")
    return result.stdout.strip()


def run_synod(chroot, uid, name, then):
    """Starts synod as the unit would, in a new network namespace; `then(pid, address)`; SIGTERM."""
    unit = unit_settings(chroot)
    address = client_address(chroot)
    command = (f"umask {shlex.quote(unit['UMask'])} && exec setpriv --reuid={shlex.quote(unit['User'])} "
               f"--regid={shlex.quote(unit['Group'])} --init-groups -- {unit['ExecStart']}")
    fm.log(f"\n== {name}: `{command}` in the chroot, in a new network namespace")
    node = fm.Streamed(fm.in_new_netns(fm.chroot_argv(chroot.root, command, cwd="/")),
                       os.path.join(chroot.log_dir, f"{name}.log"), f"  {name}| ")
    pid = node.process.pid  # unshare, sh, chroot, env, bash and setpriv exec in turn: this is synod
    try:
        deadline = time.time() + 60
        status, body = 0, ""
        while status != 200:
            expect(node.process.poll() is None, f"{name}: synod exited {node.process.returncode}:\n"
                   + "\n".join(node.tail[-15:]))
            expect(time.time() < deadline, f"{name}: GET http://{address}/readyz never answered 200 (last: "
                   f"{status} {body!r})")
            time.sleep(0.5)
            status, body = curl_in(pid, f"http://{address}/readyz")
        with open(f"/proc/{pid}/status") as f:
            uids = re.search(r"^Uid:\s+(.*)$", f.read(), re.M).group(1).split()
        expect(uids == [str(uid)] * 4, f"{name}: synod runs as uids {uids}, expected synod's {uid}")
        fm.log(f"{name}: GET http://{address}/readyz 200, synod runs as the synod user (uid {uid})")
        then(pid, address)
        not_synods = chroot.sh("find /var/lib/synod ! -user synod")
        expect(not not_synods, f"{name}: files in /var/lib/synod that are not synod's: {not_synods}")
        token_mode = chroot.sh("stat -c %a /var/lib/synod/bootstrap-token")
        expect(token_mode == "600", f"{name}: the bootstrap token has mode {token_mode}")
    finally:
        if node.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            try:
                code = node.wait(60)
            except subprocess.TimeoutExpired:
                node.process.kill()
                code = node.wait(10)
        else:
            code = node.process.returncode
        node.close()
    expect(code == 0, f"{name}: synod exited {code} on SIGTERM")
    fm.log(f"{name}: synod's data in /var/lib/synod is all synod's; SIGTERM stopped it with status 0")


def clean_stale_runs(base):
    """Run folders of earlier runs that died before their cleanup (fm's, with this test's marker)."""
    for entry in sorted(os.listdir(base)):
        match = re.fullmatch(r"run-(\d+)", entry)
        if not match:
            continue
        try:
            with open(f"/proc/{match.group(1)}/cmdline", "rb") as f:
                alive = MARKER.encode() in f.read()
        except OSError:
            alive = False
        if not alive:
            fm.log(f"cleanup: removing the run folder of a dead earlier run: {base}/{entry}")
            fm.remove_run_dir(os.path.join(base, entry))


def test(args, run_dir, log_dir, timings):
    started = time.time()
    deb_dir = os.path.join(run_dir, "deb")
    os.makedirs(deb_dir)
    try:
        deb = test_package.build_deb(args.cpack, args.cpack_config, args.version, deb_dir)
    except test_package.Failure as error:
        raise Failure(str(error)) from None
    timings.append(("cpack -G DEB", time.time() - started))
    mirror = args.mirror or fm.debian_mirror()
    tarball = fm.cached_root(args.cache_dir, mirror, args.refresh_cache, timings)
    root = os.path.join(run_dir, "root")
    os.makedirs(root)
    fm.run(["tar", "--numeric-owner", "--xattrs", "-C", root, "-xpf", tarball])
    shutil.copy(deb, os.path.join(root, "tmp"))
    fm.mount_all(root)
    chroot = Chroot(root, log_dir)
    inside = "/tmp/" + os.path.basename(deb)

    t0 = time.time()
    chroot.streamed(f"apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
                    f"--no-install-recommends {inside}", "install", 1800)
    timings.append(("apt-get install of the .deb on the bare root (host netns)", time.time() - t0))
    uid = check_installed(chroot, args.version)

    def write(pid, address):
        synodctl_in(chroot, pid, address, "kv", "put", *WRITTEN)
        value = synodctl_in(chroot, pid, address, "kv", "get", WRITTEN[0], "--raw")
        expect(value == WRITTEN[1], f"synodctl kv get {WRITTEN[0]} --raw printed {value!r}")
        fm.log(f"first start: the packaged synodctl wrote and read {WRITTEN[0]}")
    t0 = time.time()
    run_synod(chroot, uid, "first-start", write)
    timings.append(("first start, as the synod user (own netns)", time.time() - t0))

    # The upgrade path of the maintainer scripts, with an edited configuration.
    edit = "\n# an administrator's edit (chroot_install.py)\n"
    with open(chroot.path("/etc/synod/synod.conf"), "a") as f:
        f.write(edit)
    chroot.streamed(f"DEBIAN_FRONTEND=noninteractive dpkg -i {inside}", "reinstall", 300)
    with open(chroot.path("/etc/synod/synod.conf")) as f:
        expect(f.read().endswith(edit), "dpkg -i again replaced the edited /etc/synod/synod.conf")
    check_installed(chroot, args.version)

    def still_there(pid, address):
        value = synodctl_in(chroot, pid, address, "kv", "get", WRITTEN[0], "--raw")
        expect(value == WRITTEN[1], f"after dpkg -i again, {WRITTEN[0]} reads {value!r}")
        fm.log(f"second start: {WRITTEN[0]} is still {value!r}")
    run_synod(chroot, uid, "second-start", still_there)

    chroot.streamed("DEBIAN_FRONTEND=noninteractive apt-get purge -y -q synod", "purge", 300)
    expect(not os.path.exists(chroot.path("/etc/synod")), "apt-get purge left /etc/synod")
    expect(os.path.exists(chroot.path("/var/lib/synod/data.mdb")), "apt-get purge removed synod's data")
    expect(chroot.sh("getent passwd synod", check=False), "apt-get purge removed the synod user")
    status = chroot.sh("dpkg-query -W -f='${Status}' synod 2>/dev/null || true")
    expect(status in ("", "unknown ok not-installed"), f"after apt-get purge, dpkg-query says '{status}'")
    fm.log("purge: /etc/synod is gone; /var/lib/synod's data and the synod user are kept")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpack", default="cpack")
    parser.add_argument("--cpack-config", required=True, help="the build's CPackConfig.cmake")
    parser.add_argument("--version", required=True, help="the project's version (PROJECT_VERSION)")
    parser.add_argument("--mirror", default=None, help="default: the host's (fresh_machine.py)")
    parser.add_argument("--cache-dir", default="/var/cache/synod-fresh-root",
                        help="the cached debootstrap root, shared with fresh_machine.py")
    parser.add_argument("--refresh-cache", action="store_true", help="debootstrap anew")
    parser.add_argument("--work-dir", default="/var/tmp/synod-package-chroot")
    parser.add_argument("--log-dir", default=None, help="default: last-logs in --work-dir")
    args = parser.parse_args()
    args.cpack_config = os.path.abspath(args.cpack_config)
    started = time.time()

    if os.geteuid() != 0:
        fm.log("SKIP: not root (debootstrap, chroot, mounts and network namespaces need root)")
        return SKIP
    mirror = args.mirror or fm.debian_mirror()
    if mirror is None:
        fm.log("SKIP: no Debian bookworm mirror in the host's apt sources")
        return SKIP
    reachable, detail = fm.mirror_reachable(mirror)
    if not reachable:
        fm.log(f"SKIP: the Debian mirror cannot be reached ({detail})")
        return SKIP
    missing = [tool for tool in ("debootstrap", "chroot", "unshare", "nsenter", "ip", "findmnt", "mount", "tar",
                                 "curl", "dpkg-deb") if shutil.which(tool) is None]
    if missing:
        fm.log(f"FAIL: missing on the host: {' '.join(missing)} (deploy/install-deps.sh --test installs them)")
        return 1

    os.makedirs(args.work_dir, exist_ok=True)
    clean_stale_runs(args.work_dir)
    run_dir = os.path.join(args.work_dir, f"run-{os.getpid()}")
    log_dir = args.log_dir or os.path.join(args.work_dir, "last-logs")
    shutil.rmtree(log_dir, ignore_errors=True)
    os.makedirs(log_dir)

    def stop(signum, _frame):
        raise fm.Stopped(f"signal {signum}")
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    timings = []
    result = 1
    os.makedirs(run_dir)
    try:
        test(args, run_dir, log_dir, timings)
        result = 0
    except (fm.Failure, fm.Stopped, subprocess.TimeoutExpired) as error:
        fm.log(f"\nFAIL: {error}")
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            fm.remove_run_dir(run_dir)
            fm.log(f"cleanup: unmounted (findmnt shows nothing under {run_dir}) and removed it")
        except fm.Failure as error:
            fm.log(f"cleanup FAILED: {error}")
            result = 1
        fm.log(f"\nlogs: {log_dir}")
        fm.log("timings:")
        for what, seconds in timings:
            fm.log(f"  {what:<60} {fm.fmt(seconds)}")
        fm.log(f"  {'whole test':<60} {fm.fmt(time.time() - started)}")
        fm.log("PASS" if result == 0 else "FAILED")
    return result


if __name__ == "__main__":
    sys.exit(main())
