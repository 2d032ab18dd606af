#!/usr/bin/env python3
"""The README's two commands on a bare Debian 12 root (issue #14), a `long` test.

    sudo python3 test/fresh_machine/fresh_machine.py [--skip-test-command]

It builds (once, then from a cached tarball) a Debian 12 root with
`debootstrap --variant=minbase bookworm`, unpacks it anew for every run, copies
the project into /root/synod, and runs inside a chroot, exactly as README.md
writes them (taken from its first two ```sh blocks, so the test follows the
README):

  1. the quickstart, in the background, until GET /v1/cluster names a leader,
     then the README's curl session (the ```sh blocks of its section "A fenced
     lock in one curl command", parsed by test/api/test_readme.py and run by
     bash inside the chroot), whose output is printed and checked against the
     README's shapes; then Ctrl-C (SIGINT to its process group), which must
     stop the cluster with exit status 0;
  2. the test command (a full build, the `ci` tier and the sanitizer pass).

It prints the time of each README command on the bare root.

Network namespaces, the design decision
---------------------------------------
The cluster must run in its own network namespace (`unshare -n`, loopback up),
so its ports 7001-7003 cannot collide with a cluster already running on the
host. But both README commands begin by installing what is missing with apt,
and apt cannot reach the mirror from an empty namespace. Giving the namespace
a route out (veth, NAT) would change the host's network configuration, and
stopping the command after its install step would change the command. So each
README command runs in two steps:

  a. its install step, in the host's network namespace: the
     `deploy/install-deps.sh ...` line read from the command's own script
     (deploy/quickstart.sh, deploy/test.sh), run in the chroot exactly as that
     script runs it;
  b. the README command as written, in the chroot, in a new network namespace.
     Its own install step then finds nothing missing and does not touch apt;
     if it did need something (the script's install line and this test
     disagree), apt fails without network and so does the test.

The dependency set is still the script's own: if the quickstart's install
step misses something its build or its printed instructions need (Python for
CMake, curl), step b fails. Both steps are timed; a README command's time on a
bare root is their sum. The test command runs in a namespace of its own too,
so the `ci` tier's clusters cannot collide with anything on the host either.

The project copied in is the working tree's tracked files (`git ls-files`, as
they are on disk, uncommitted changes included; untracked files are not
copied); `--tree REV` copies `git archive REV` instead (HEAD, or an older
commit to see the test fail). The README, the scripts' install lines and the
curl blocks are read from this checkout either way.

The root gets what a machine's setup provides and debootstrap does not: the
host's resolv.conf, and the Debian installer's /etc/hosts (without it,
`localhost` does not resolve).

Safety: /proc, /sys, /dev, /dev/pts (and a fresh tmpfs on /dev/shm) are bind-
mounted into the root; everything is unmounted in a `finally` (and on SIGTERM
or SIGINT), the processes left in the root are stopped first, and the root is
removed with `rm -rf --one-file-system` only after findmnt shows nothing
mounted under it. A run killed before its cleanup is cleaned up by the next
run (run directories are named after their pid).

Exit status: 0 passed, 1 failed, 77 skipped (not root, or the mirror cannot be
reached); CMake sets SKIP_RETURN_CODE 77, so a skip never counts as a pass.
"""
import argparse
import contextlib
import fcntl
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.normpath(os.path.join(HERE, "..", ".."))
SUITE = "bookworm"
CHROOT_PROJECT = "/root/synod"
CHROOT_ENV = [
    "HOME=/root", "USER=root", "LOGNAME=root", "SHELL=/bin/bash", "LANG=C.UTF-8", "TERM=dumb",
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
]
# Mounted into the root in this order, unmounted in the reverse one.
BINDS = ["proc", "sys", "dev", "dev/pts"]


class Failure(Exception):
    pass


class Stopped(Exception):
    """SIGTERM or SIGINT (ctest's timeout, Ctrl-C): clean up, then fail."""


def log(message=""):
    print(message, flush=True)


def fmt(seconds):
    return f"{int(seconds) // 60}m{seconds - 60 * (int(seconds) // 60):04.1f}s ({seconds:.0f} s)"


# ---------------------------------------------------------------- the README

def readme_commands(readme):
    """The first two ```sh blocks of README.md: the quickstart and the test command."""
    with open(readme) as f:
        text = f.read()
    found = re.findall(r"```sh\n(.*?)```", text, re.S)
    if len(found) < 2:
        raise Failure("README.md has fewer than two ```sh blocks")
    quickstart, test = found[0].strip(), found[1].strip()
    if "quickstart" not in quickstart or "test" not in test:
        raise Failure(f"README.md's first two ```sh blocks are {quickstart!r} and {test!r}: "
                      "not the quickstart and the test command this test expects")
    return quickstart, test


def curl_session_blocks(readme):
    """[(command, language, shown)] of the README's curl section, as test_readme.py parses them."""
    sys.path.insert(0, os.path.join(SOURCE, "test", "api"))
    import test_readme  # noqa: E402 (needs the path above; it finds test/pylib itself)
    test_readme.README = readme  # the copied project's README
    examples = test_readme.blocks()
    if len(examples) < 6:
        raise Failure(f"the README's curl section has {len(examples)} sh blocks, expected at least 6")
    return examples, test_readme.check_output


def install_step(script_path, name):
    """The `deploy/install-deps.sh ...` line a README command's script runs."""
    with open(script_path) as f:
        lines = re.findall(r"^\s*(deploy/install-deps\.sh(?:[ \t]+[-\w]+)*)[ \t]*$", f.read(), re.M)
    if len(lines) != 1:
        raise Failure(f"{name}: expected one `deploy/install-deps.sh ...` line in {script_path}, found "
                      f"{lines!r}; this test runs that step in the host's network namespace (see its header)")
    return lines[0]


# ---------------------------------------------------------------- the mirror

def debian_mirror():
    """The host's Debian mirror: URIs: of debian.sources (the stanza with the suite), or sources.list."""
    path = "/etc/apt/sources.list.d/debian.sources"
    if os.path.exists(path):
        with open(path) as f:
            stanzas = re.split(r"\n\s*\n", f.read())
        for stanza in stanzas:
            fields = dict((k.strip().lower(), v.strip()) for k, v in
                          re.findall(r"^([A-Za-z-]+):(.*)$", stanza, re.M))
            if "deb" in fields.get("types", "").split() and SUITE in fields.get("suites", "").split() \
                    and fields.get("uris"):
                return fields["uris"].split()[0].rstrip("/")
    if os.path.exists("/etc/apt/sources.list"):
        with open("/etc/apt/sources.list") as f:
            for line in f:
                parts = line.split("#", 1)[0].split()
                parts = [p for p in parts if not p.startswith("[")]
                if len(parts) >= 3 and parts[0] == "deb" and parts[2] == SUITE:
                    return parts[1].rstrip("/")
    return None


def mirror_reachable(mirror):
    url = f"{mirror}/dists/{SUITE}/Release"
    try:
        request = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(request, timeout=15) as answer:
            return answer.status == 200, f"HEAD {url}: {answer.status}"
    except Exception as error:  # noqa: BLE001 (any failure means "not reachable")
        return False, f"HEAD {url}: {error}"


# ---------------------------------------------------------------- processes

def run(argv, timeout=None, check=True, **kwargs):
    result = subprocess.run(argv, timeout=timeout, text=True, **kwargs)
    if check and result.returncode != 0:
        raise Failure(f"{shlex.join(argv)} exited {result.returncode}")
    return result


class Streamed:
    """A process whose output is printed as it comes (prefixed) and kept in a log file."""

    def __init__(self, argv, log_path, prefix):
        self.log_file = open(log_path, "w", buffering=1)
        self.tail = []
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, errors="replace",
                                        start_new_session=True)
        self.reader = threading.Thread(target=self._read, args=(prefix,), daemon=True)
        self.reader.start()

    def _read(self, prefix):
        for line in self.process.stdout:
            self.log_file.write(line)
            self.tail = (self.tail + [line.rstrip("\n")])[-40:]
            print(prefix + line.rstrip("\n"), flush=True)

    def wait(self, timeout):
        try:
            code = self.process.wait(timeout=timeout)
        finally:
            self.reader.join(timeout=5)
        return code

    def close(self):
        self.log_file.close()


def processes_in(root):
    """Pids of the processes whose root directory is `root` or below it."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            proc_root = os.readlink(f"/proc/{entry}/root")
        except OSError:
            continue
        if proc_root == root or proc_root.startswith(root + "/"):
            pids.append(int(entry))
    return pids


def stop_processes_in(root):
    pids = processes_in(root)
    if not pids:
        return
    log(f"cleanup: stopping {len(pids)} process(es) left in {root}: {pids}")
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
        for pid in processes_in(root):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.time() + wait
        while processes_in(root) and time.time() < deadline:
            time.sleep(0.2)
        if not processes_in(root):
            return
    raise Failure(f"processes still run in {root}: {processes_in(root)}")


# ---------------------------------------------------------------- mounts

def mounts_under(path):
    """Mount points at or below `path`, deepest first (findmnt's view of this namespace)."""
    out = run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True).stdout
    targets = [t.encode().decode("unicode_escape") for t in out.split()]
    inside = [t for t in targets if t == path or t.startswith(path.rstrip("/") + "/")]
    return sorted(inside, key=len, reverse=True)


def mount_all(root):
    for name in BINDS:
        target = os.path.join(root, name)
        os.makedirs(target, exist_ok=True)
        run(["mount", "--bind", "/" + name, target])
        # Nothing mounted here may reach the host's copy of the mount tree.
        run(["mount", "--make-private", target], check=False)
    # /dev is bound without its submounts: a fresh /dev/shm (chromium uses it)
    # keeps the chroot off the host's.
    run(["mount", "-t", "tmpfs", "-o", "mode=1777,nosuid,nodev", "tmpfs", os.path.join(root, "dev/shm")])
    shutil.copyfile("/etc/resolv.conf", os.path.join(root, "etc/resolv.conf"), follow_symlinks=True)
    # debootstrap writes no /etc/hosts (the installer's netcfg, or a container
    # runtime, does), and without one `localhost` does not resolve. The
    # installer's lines, as on any installed Debian 12 machine:
    hosts = os.path.join(root, "etc/hosts")
    if not os.path.exists(hosts):
        with open(hosts, "w") as f:
            f.write("127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n"
                    "ff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n")


def unmount_all(root):
    """Unmounts everything under root; True when findmnt shows nothing left."""
    for attempt in range(5):
        left = mounts_under(root)
        if not left:
            return True
        for target in left:
            if run(["umount", target], check=False, capture_output=True).returncode != 0 and attempt >= 3:
                run(["umount", "--lazy", target], check=False, capture_output=True)
        time.sleep(0.5 * attempt)
    left = mounts_under(root)
    if left:
        log(f"cleanup: STILL MOUNTED under {root}: {left}")
    return not left


def remove_run_dir(run_dir):
    """Stops what runs in it, unmounts, checks with findmnt, and only then removes it."""
    root = os.path.join(run_dir, "root")
    if os.path.isdir(root):
        stop_processes_in(root)
    if not unmount_all(run_dir):
        raise Failure(f"not removing {run_dir}: something is still mounted under it (see above); "
                      "unmount it by hand, then rm -rf --one-file-system it")
    run(["rm", "-rf", "--one-file-system", run_dir])


def clean_stale_runs(base):
    """Run directories of earlier runs that died before their cleanup (ctest's timeout kills)."""
    for entry in sorted(os.listdir(base)):
        match = re.fullmatch(r"run-(\d+)", entry)
        if not match:
            continue
        pid = int(match.group(1))
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                alive = b"fresh_machine" in f.read()
        except OSError:
            alive = False
        if not alive:
            log(f"cleanup: removing the run directory of a dead earlier run: {base}/{entry}")
            remove_run_dir(os.path.join(base, entry))


# ---------------------------------------------------------------- the root

def cached_root(cache_dir, mirror, refresh, timings):
    """A tarball of a fresh `debootstrap --variant=minbase bookworm` root, made once."""
    os.makedirs(cache_dir, exist_ok=True)
    arch = run(["dpkg", "--print-architecture"], capture_output=True).stdout.strip()
    tarball = os.path.join(cache_dir, f"{SUITE}-minbase-{arch}.tar")
    with open(os.path.join(cache_dir, "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two runs never debootstrap at once
        if os.path.exists(tarball) and not refresh:
            age = (time.time() - os.path.getmtime(tarball)) / 86400
            log(f"root: the cached debootstrap root {tarball} ({age:.1f} days old; --refresh-cache makes a new one)")
            return tarball
        started = time.time()
        build_dir = tempfile.mkdtemp(prefix="debootstrap-", dir=cache_dir)
        try:
            target = os.path.join(build_dir, "root")
            log(f"root: debootstrap --variant=minbase {SUITE} from {mirror} (once; then cached in {tarball}) ...")
            step = Streamed(["debootstrap", "--variant=minbase", SUITE, target, mirror],
                            os.path.join(build_dir, "debootstrap.log"), "  debootstrap| ")
            code = step.wait(1800)
            step.close()
            if code != 0:
                raise Failure(f"debootstrap exited {code}")
            if mounts_under(build_dir):
                raise Failure(f"debootstrap left mounts under {build_dir}: {mounts_under(build_dir)}")
            partial = tarball + ".partial"
            run(["tar", "--numeric-owner", "--xattrs", "-C", target, "-cpf", partial, "."])
            with open(os.path.join(cache_dir, "mirror"), "w") as f:
                f.write(mirror + "\n")
            os.replace(partial, tarball)
        finally:
            if not mounts_under(build_dir):
                run(["rm", "-rf", "--one-file-system", build_dir], check=False)
            else:
                log(f"root: NOT removing {build_dir}: mounts under it: {mounts_under(build_dir)}")
        timings.append(("debootstrap (once, then cached)", time.time() - started))
        return tarball


def copy_project(root, tree):
    destination = os.path.join(root, CHROOT_PROJECT.lstrip("/"))
    os.makedirs(destination)
    if tree != "worktree":
        archive = subprocess.Popen(["git", "-C", SOURCE, "archive", "--format=tar", tree], stdout=subprocess.PIPE)
        run(["tar", "-C", destination, "-xf", "-"], stdin=archive.stdout)
        if archive.wait() != 0:
            raise Failure(f"git archive {tree} failed")
        commit = run(["git", "-C", SOURCE, "rev-parse", "--short", tree], capture_output=True).stdout.strip()
        return f"git archive {tree} ({commit})"
    listed = run(["git", "-C", SOURCE, "ls-files", "-z"], capture_output=True).stdout.split("\0")
    copied = 0
    for path in filter(None, listed):
        source = os.path.join(SOURCE, path)
        target = os.path.join(destination, path)
        if not os.path.lexists(source):
            continue  # deleted in the working tree
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.islink(source):
            os.symlink(os.readlink(source), target)
        elif os.path.isfile(source):
            shutil.copy2(source, target)
        else:
            continue  # a submodule: none today
        copied += 1
    head = run(["git", "-C", SOURCE, "rev-parse", "--short", "HEAD"], capture_output=True).stdout.strip()
    dirty = run(["git", "-C", SOURCE, "status", "--porcelain", "--untracked-files=no"],
                capture_output=True).stdout.strip()
    return f"the working tree's {copied} tracked files (HEAD {head}" + (", with uncommitted changes)" if dirty else ")")


def chroot_argv(root, command, cwd=CHROOT_PROJECT):
    """bash -c COMMAND in the chroot, in `cwd`, with a clean login-like environment."""
    return ["chroot", root, "/usr/bin/env", "-i", *CHROOT_ENV, "/bin/bash", "-c",
            f"cd {shlex.quote(cwd)} && {command}"]


def in_new_netns(argv):
    """argv in a new network namespace with loopback up; the pid stays the same through the execs."""
    return ["unshare", "--net", "--", "/bin/sh", "-c", 'ip link set lo up && exec "$@"', "sh", *argv]


def in_netns_of(pid, argv):
    return ["nsenter", f"--net=/proc/{pid}/ns/net", "--", *argv]


# ---------------------------------------------------------------- the phases

class Run:
    def __init__(self, args, run_dir, root, log_dir):
        self.args = args
        self.run_dir = run_dir
        self.root = root
        self.log_dir = log_dir
        self.timings = []
        self.deadline = time.time() + args.deadline

    def remaining(self, at_most=None):
        left = self.deadline - time.time()
        if left <= 0:
            raise Failure(f"the test's own deadline ({self.args.deadline} s) has passed")
        return left if at_most is None else min(left, at_most)

    def install(self, line, name):
        """The README command's own install step, in the host's network namespace."""
        log(f"\n== {name}, step a: `{line}` in the chroot, host network namespace (apt needs the mirror)")
        started = time.time()
        step = Streamed(chroot_argv(self.root, line), os.path.join(self.log_dir, f"{name}-install.log"),
                        "  install| ")
        code = step.wait(self.remaining(3600))
        step.close()
        elapsed = time.time() - started
        self.timings.append((f"{name}: install step (host netns)", elapsed))
        if code != 0:
            raise Failure(f"{name}: `{line}` exited {code} on the bare root")
        return elapsed

    def chroot_curl(self, pid, url, host_curl=False):
        """(status, body) of GET url from inside the cluster's namespace, with the chroot's own curl."""
        curl = ["curl", "-s", "--max-time", "2", url]
        result = run(in_netns_of(pid, curl if host_curl else ["chroot", self.root, *curl]),
                     check=False, capture_output=True, timeout=10)
        return result.returncode, result.stdout

    def quickstart(self, command, install_line, examples, check_output):
        name = "quickstart"
        install_time = self.install(install_line, name)
        log(f"\n== {name}, step b: `{command}` as written, in the chroot, in a new network namespace")
        started = time.time()
        node = Streamed(in_new_netns(chroot_argv(self.root, command)),
                        os.path.join(self.log_dir, "quickstart.log"), "  quickstart| ")
        pid = node.process.pid
        try:
            leader, last, host_curl, no_curl = None, "", False, ""
            while leader is None:
                if node.process.poll() is not None:
                    node.reader.join(timeout=5)
                    raise Failure(f"{name}: `{command}` exited {node.process.returncode} before a leader was "
                                  f"elected; its last lines:\n" + "\n".join(node.tail[-15:])
                                  + (f"\nand {no_curl}" if no_curl else ""))
                if time.time() - started > self.remaining(self.args.quickstart_timeout):
                    raise Failure(f"{name}: no leader after {self.args.quickstart_timeout} s; last answer {last!r}")
                code, body = self.chroot_curl(pid, "http://127.0.0.1:7001/v1/cluster", host_curl)
                if code == 127 and not host_curl:
                    # Keep watching with the host's curl: the quickstart may fail for more reasons.
                    host_curl = True
                    no_curl = (f"{name}: the chroot has no curl after the quickstart's install step, so the "
                               "quickstart's own leader wait and the README's curl session cannot run")
                    log(f"\n{no_curl}; watching for a leader with the host's curl, in the same namespace")
                    continue
                last = body or f"curl exit {code}"
                with contextlib.suppress(ValueError):
                    answer = json.loads(body) if body else None
                    leader = (answer.get("leader") or None) if isinstance(answer, dict) else None
                time.sleep(1)
            to_leader = time.time() - started
            self.timings.append((f"{name}: README command to a leader (own netns)", to_leader))
            if no_curl:
                raise Failure(no_curl)
            log(f"\n{name}: GET /v1/cluster names a leader after {fmt(to_leader)}: {json.dumps(leader)}")
            # Let the quickstart print its banner (it waits for the leader itself).
            banner_deadline = time.time() + 20
            while not any("synod is running" in line for line in node.tail) and time.time() < banner_deadline:
                time.sleep(0.2)
            self.curl_session(pid, examples, check_output)
        finally:
            if node.process.poll() is None:
                log(f"\n{name}: Ctrl-C (SIGINT to its process group) ...")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGINT)
                try:
                    code = node.wait(60)
                except subprocess.TimeoutExpired:
                    code = None
            else:
                code = node.process.returncode
            node.close()
            self.keep_node_logs()
        if code != 0:
            raise Failure(f"{name}: Ctrl-C did not stop it cleanly (exit status {code})")
        left = processes_in(self.root)
        if left:
            raise Failure(f"{name}: processes still run in the chroot after Ctrl-C: {left}")
        log(f"{name}: Ctrl-C stopped the cluster; exit status 0")
        self.timings.append((f"{name}: README command total on a bare root (install + to a leader)",
                             install_time + to_leader))

    def keep_node_logs(self):
        data = os.path.join(self.root, CHROOT_PROJECT.lstrip("/"), ".synod-quickstart")
        for id in (1, 2, 3):
            with contextlib.suppress(OSError):
                shutil.copy(os.path.join(data, f"node{id}.log"), os.path.join(self.log_dir, f"quickstart-node{id}.log"))

    def curl_session(self, pid, examples, check_output):
        """The README's curl blocks, in order, in one bash inside the chroot and the cluster's namespace."""
        log("\n== the README's curl session, in the chroot (its own curl and bash), in the cluster's namespace")
        script = ["set -o pipefail"]
        for index, (command, _, _) in enumerate(examples):
            allowed = "0|28" if "--max-time" in command else "0"  # a stream ends by its --max-time
            script.append(command.rstrip("\n"))
            script.append(f'rc=$?; case $rc in {allowed}) ;; *) echo "@@FAIL {index} $rc"; exit 1 ;; esac')
            script.append(f'echo; echo "@@END {index}"')
        started = time.time()
        result = run(in_netns_of(pid, chroot_argv(self.root, "\n".join(script), cwd="/root")),
                     check=False, capture_output=True, timeout=self.remaining(180))
        elapsed = time.time() - started
        self.timings.append(("curl session (own netns)", elapsed))
        outputs = re.split(r"@@END \d+\n", result.stdout)
        transcript = []
        for index, (command, _, _) in enumerate(examples):
            transcript.append("$ " + command.strip().replace("\n", "\n$ "))
            if index < len(outputs):
                transcript.append(outputs[index].strip())
        text = "\n".join(transcript)
        with open(os.path.join(self.log_dir, "curl-session.txt"), "w") as f:
            f.write(text + "\n")
        log(text)
        if result.stderr.strip():
            log("(stderr)\n" + result.stderr.strip())
        if result.returncode != 0:
            raise Failure(f"the README's curl session failed in the chroot (exit {result.returncode}):\n"
                          f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        for index, (command, language, shown) in enumerate(examples):
            if language is None:
                continue
            actual = outputs[index].strip()
            if not actual:
                raise Failure(f"README curl block {index + 1} printed nothing")
            try:
                check_output(language, shown, actual, f"README curl block {index + 1}")
            except AssertionError as error:
                raise Failure(str(error)) from None
        log(f"the README's curl session: {len(examples)} blocks ran in {elapsed:.1f} s and look like the README shows")

    def test_command(self, command, install_line):
        name = "test command"
        install_time = self.install(install_line, name)
        log(f"\n== {name}, step b: `{command}` as written, in the chroot, in a new network namespace")
        started = time.time()
        step = Streamed(in_new_netns(chroot_argv(self.root, command)),
                        os.path.join(self.log_dir, "test-command.log"), "  test| ")
        try:
            code = step.wait(self.remaining(self.args.test_command_timeout))
        except subprocess.TimeoutExpired:
            raise Failure(f"{name}: `{command}` did not finish in time") from None
        finally:
            step.close()
        elapsed = time.time() - started
        self.timings.append((f"{name}: README command (own netns)", elapsed))
        self.timings.append((f"{name}: README command total on a bare root (install + run)", install_time + elapsed))
        if code != 0:
            raise Failure(f"{name}: `{command}` exited {code} on the bare root; the end of its output:\n"
                          + "\n".join(step.tail[-25:]))
        log(f"{name}: `{command}` passed on the bare root")


# ---------------------------------------------------------------- main

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-test-command", action="store_true",
                        help="run only the quickstart and the curl session (for iteration)")
    parser.add_argument("--tree", default="worktree",
                        help="`worktree` (default): copy the working tree's tracked files as they are on disk; "
                             "or a git revision (HEAD, a commit): copy `git archive REV`")
    parser.add_argument("--mirror", default=None,
                        help="default: the URIs: of the host's /etc/apt/sources.list.d/debian.sources")
    parser.add_argument("--cache-dir", default="/var/cache/synod-fresh-root")
    parser.add_argument("--refresh-cache", action="store_true", help="debootstrap anew")
    parser.add_argument("--work-dir", default="/var/tmp/synod-fresh-machine",
                        help="where each run's root is unpacked (a disk, not tmpfs: the builds need GBs)")
    parser.add_argument("--log-dir", default=None, help="keeps the logs of the last run (default: in --work-dir)")
    parser.add_argument("--keep-root", action="store_true", help="unmount but do not remove the root (debugging)")
    parser.add_argument("--deadline", type=int, default=5100, help="seconds for the whole run (ctest's TIMEOUT is 5400)")
    parser.add_argument("--quickstart-timeout", type=int, default=2400)
    parser.add_argument("--test-command-timeout", type=int, default=4200)
    args = parser.parse_args()
    started = time.time()

    if os.geteuid() != 0:
        log("SKIP: not root (debootstrap, chroot, mounts and network namespaces need root)")
        return SKIP
    mirror = args.mirror or debian_mirror()
    if mirror is None:
        log("SKIP: no Debian bookworm mirror in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list")
        return SKIP
    reachable, detail = mirror_reachable(mirror)
    if not reachable:
        log(f"SKIP: the Debian mirror cannot be reached ({detail})")
        return SKIP
    log(f"mirror: {mirror} ({detail})")
    missing = [tool for tool in ("debootstrap", "chroot", "unshare", "nsenter", "ip", "findmnt", "mount", "tar", "git")
               if shutil.which(tool) is None]
    if missing:
        log(f"FAIL: missing on the host: {' '.join(missing)} (deploy/install-deps.sh --test installs them)")
        return 1


    os.makedirs(args.work_dir, exist_ok=True)
    clean_stale_runs(args.work_dir)
    run_dir = os.path.join(args.work_dir, f"run-{os.getpid()}")
    log_dir = args.log_dir or os.path.join(args.work_dir, "last-logs")
    shutil.rmtree(log_dir, ignore_errors=True)
    os.makedirs(log_dir)

    def stop(signum, _frame):
        raise Stopped(f"signal {signum}")
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    timings = []
    result = 1
    os.makedirs(run_dir)
    try:
        tarball = cached_root(args.cache_dir, mirror, args.refresh_cache, timings)
        root = os.path.join(run_dir, "root")
        os.makedirs(root)
        t0 = time.time()
        run(["tar", "--numeric-owner", "--xattrs", "-C", root, "-xpf", tarball])
        copied = copy_project(root, args.tree)
        timings.append(("unpack the bare root and copy the project", time.time() - t0))
        log(f"root: {root}, bare; the project in {CHROOT_PROJECT}: {copied}")
        # What runs is what was copied: its README, its scripts' install lines.
        project = os.path.join(root, CHROOT_PROJECT.lstrip("/"))
        quickstart, test = readme_commands(os.path.join(project, "README.md"))
        quickstart_install = install_step(os.path.join(project, "deploy", "quickstart.sh"), "quickstart")
        test_install = install_step(os.path.join(project, "deploy", "test.sh"), "test command")
        examples, check_output = curl_session_blocks(os.path.join(project, "README.md"))
        log(f"README: quickstart `{quickstart}` (install step `{quickstart_install}`), "
            f"test command `{test}` (install step `{test_install}`), {len(examples)} curl blocks")
        mount_all(root)
        this = Run(args, run_dir, root, log_dir)
        this.timings = timings
        this.quickstart(quickstart, quickstart_install, examples, check_output)
        if args.skip_test_command:
            log("\n(--skip-test-command: the test command is not run)")
        else:
            this.test_command(test, test_install)
        result = 0
    except (Failure, Stopped, subprocess.TimeoutExpired) as error:
        log(f"\nFAIL: {error}")
        result = 1
    finally:
        # A second signal must not cut the cleanup short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            if args.keep_root:
                stop_processes_in(os.path.join(run_dir, "root"))
                ok = unmount_all(run_dir)
                log(f"cleanup: --keep-root: {run_dir} kept, " + ("nothing mounted" if ok else "STILL MOUNTED"))
            else:
                remove_run_dir(run_dir)
                log(f"cleanup: unmounted (findmnt shows nothing under {run_dir}) and removed it")
        except Failure as error:
            log(f"cleanup FAILED: {error}")
            result = 1
        log(f"\nlogs: {log_dir}")
        log("timings:")
        for what, seconds in timings:
            log(f"  {what:<72} {fmt(seconds)}")
        log(f"  {'whole test':<72} {fmt(time.time() - started)}")
        log("PASS" if result == 0 else "FAILED")
    return result


if __name__ == "__main__":
    sys.exit(main())
