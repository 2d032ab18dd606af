"""Builds an older synod (the tag v0.1.0 by default) once, into a cache under
the build tree, and says where its `synod` is.

    python3 test/upgrade/old_build.py --source . --cache build/old-v0.1.0 [--jobs 1]

The cache is keyed by the commit: CACHE/<sha>/src is `git archive` of the
commit, CACHE/<sha>/build its own CMake tree (configured with the old tree's
CMakeLists, Release), and CACHE/<sha>/built the stamp written after its
`synod` target built. A second call with the stamp in place builds nothing.
Two callers at once are serialized by flock(2) on CACHE/<sha>.lock.

The compile runs under `nice -n 19` (it takes many minutes on 2 cores and
should not slow anything else down); --jobs sets its -j (default 2, or
$SYNOD_OLD_BUILD_JOBS). A compiler launcher (ccache) given with --launcher
is passed on as CMAKE_CXX_COMPILER_LAUNCHER.

When the tag is missing (a clone made without tags), the commit the tag names
is built instead (--fallback, 7227abc for v0.1.0), and a line says so. When
neither is in the clone, or the source is not a git checkout, there is nothing
to build: SkipTest is raised (the test exits 77, a skip, never a pass).
"""
import argparse
import fcntl
import os
import shutil
import subprocess
import sys
import time


class SkipTest(Exception):
    """The old version cannot be had in this checkout."""


class BuildError(Exception):
    """The old version's build failed; the message holds its log's tail."""


def git(source, *args):
    return subprocess.run(["git", "-C", source, *args], capture_output=True, text=True)


def resolve(source, tag, fallback):
    """(full sha, what was used: the tag or the fallback commit)."""
    if shutil.which("git") is None:
        raise SkipTest("git is not installed, so the old version cannot be checked out")
    if git(source, "rev-parse", "--is-inside-work-tree").returncode != 0:
        raise SkipTest(f"{source} is not a git checkout, so {tag} cannot be checked out")
    found = git(source, "rev-parse", "--verify", "-q", f"{tag}^{{commit}}")
    if found.returncode == 0:
        return found.stdout.strip(), tag
    print(f"old_build: the tag {tag} is missing in this clone; building commit {fallback} instead", flush=True)
    found = git(source, "rev-parse", "--verify", "-q", f"{fallback}^{{commit}}")
    if found.returncode == 0:
        return found.stdout.strip(), fallback
    raise SkipTest(f"neither the tag {tag} nor the commit {fallback} is in this clone (a shallow clone?); "
                   f"fetch it with: git fetch origin tag {tag}")


def run_logged(command, log, cwd=None):
    log.write(f"$ {' '.join(command)}\n")
    log.flush()
    return subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=cwd).returncode


def tail(path, lines=40):
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-lines:])


def build_old(source, cache, tag="v0.1.0", fallback="7227abc", jobs=None, launcher="", cxx="", cmake="cmake"):
    """Returns (path of the old synod, sha, what was used, seconds the build took: 0 when cached)."""
    sha, used = resolve(source, tag, fallback)
    jobs = jobs or int(os.environ.get("SYNOD_OLD_BUILD_JOBS", "2"))
    os.makedirs(cache, exist_ok=True)
    home = os.path.join(cache, sha)
    src, build = os.path.join(home, "src"), os.path.join(home, "build")
    binary, stamp, log_path = os.path.join(build, "server", "synod"), os.path.join(home, "built"), \
        os.path.join(home, "build.log")
    with open(os.path.join(cache, f"{sha}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second caller waits for the first one's build
        if os.path.exists(stamp) and os.access(binary, os.X_OK):
            print(f"old_build: {used} ({sha[:12]}) is built already: {binary}", flush=True)
            return binary, sha, used, 0.0
        started = time.monotonic()
        shutil.rmtree(home, ignore_errors=True)
        os.makedirs(src)
        print(f"old_build: building {used} ({sha[:12]}) in {home} with -j{jobs} under nice -n 19 "
              f"(log: {log_path}) ...", flush=True)
        with open(log_path, "w") as log:
            archive = subprocess.Popen(["git", "-C", source, "archive", "--format=tar", sha], stdout=subprocess.PIPE)
            untar = subprocess.run(["tar", "-x", "-C", src], stdin=archive.stdout, capture_output=True)
            archive.stdout.close()
            if archive.wait() != 0 or untar.returncode != 0:
                raise BuildError(f"git archive {sha} | tar failed: {untar.stderr.decode(errors='replace')}")
            configure = [cmake, "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=Release"]
            if cxx:
                configure.append(f"-DCMAKE_CXX_COMPILER={cxx}")
            if launcher:
                configure.append(f"-DCMAKE_CXX_COMPILER_LAUNCHER={launcher}")
            if run_logged(configure, log) != 0:
                raise BuildError(f"configuring {used} failed; {log_path} ends:\n{tail(log_path)}")
            # Only the server and what it links: not the old tests, benchmarks or synodctl.
            compile_ = ["nice", "-n", "19", cmake, "--build", build, f"-j{jobs}", "--target", "synod"]
            if run_logged(compile_, log) != 0:
                raise BuildError(f"building {used}'s synod failed; {log_path} ends:\n{tail(log_path)}")
        if not os.access(binary, os.X_OK):
            raise BuildError(f"the build of {used} left no {binary}")
        with open(stamp, "w") as f:
            f.write(f"{sha} {used}\n")
        seconds = time.monotonic() - started
        print(f"old_build: built {used} in {seconds:.0f}s: {binary}", flush=True)
        return binary, sha, used, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", required=True, help="the git checkout holding the tag")
    parser.add_argument("--cache", required=True, help="the cache folder (under the build tree)")
    parser.add_argument("--tag", default="v0.1.0")
    parser.add_argument("--fallback", default="7227abc", help="the commit to build when the tag is missing")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--launcher", default="", help="CMAKE_CXX_COMPILER_LAUNCHER (ccache)")
    parser.add_argument("--cxx", default="", help="CMAKE_CXX_COMPILER")
    parser.add_argument("--cmake", default="cmake", help="the cmake program")
    args = parser.parse_args()
    try:
        binary, _, _, _ = build_old(os.path.abspath(args.source), os.path.abspath(args.cache), args.tag,
                                    args.fallback, args.jobs, args.launcher, args.cxx, args.cmake)
    except SkipTest as skip:
        print(f"old_build: skipped: {skip}")
        return 77
    except BuildError as error:
        print(f"old_build: {error}")
        return 1
    print(binary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
