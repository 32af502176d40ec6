#!/usr/bin/env python3
"""make bench: ctdeid against `cp -r` and the peers on one synthetic corpus, in one run.

Runs alternate (cp, ctdeid metadata-only, ctdeid with defacing, gdcmanon, dcmodify, cp, ...), each
ending with `sync -f` so every contender's output is on disk (ctdeid flushes each job before it
delivers it; timing the others without a flush would compare a durable write with a cached one). The
median of REPS repetitions is reported with files/s, MB/s, the ratio to cp's time (1.00 = the speed
of copying the bytes) and the peak RSS. Then the service: the time from the moment the last study is
renamed into the inbox to its delivery, minus the settle time.

Usage: scripts/bench.py BIN [--patients 3] [--slices 200] [--size 512] [--reps 3]
"""
import argparse
import os
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time


def timed(cmd, shell=False):
    """Seconds and peak RSS (MiB) of one command, through GNU time when available."""
    if shutil.which("time") and os.path.exists("/usr/bin/time"):
        fd, path = tempfile.mkstemp()
        os.close(fd)
        wrapped = ["/usr/bin/time", "-f", "%M", "-o", path] + (["bash", "-c", cmd] if shell else cmd)
        start = time.perf_counter()
        proc = subprocess.run(wrapped, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        seconds = time.perf_counter() - start
        with open(path) as f:
            lines = [l for l in f.read().split() if l.isdigit()]
        os.unlink(path)
        if proc.returncode not in (0, 1):
            sys.exit(f"bench: {cmd} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-800:]}")
        return seconds, (int(lines[-1]) / 1024 if lines else float("nan"))
    start = time.perf_counter()
    subprocess.run(cmd, shell=shell, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, float("nan")


def tree_size(path):
    files = total = 0
    for root, _, names in os.walk(path):
        for name in names:
            files += 1
            total += os.path.getsize(os.path.join(root, name))
    return files, total


def sync(path):
    subprocess.run(["sync", "-f", path], check=False)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bin")
    parser.add_argument("--patients", type=int, default=int(os.environ.get("PATIENTS", 3)))
    parser.add_argument("--slices", type=int, default=int(os.environ.get("SLICES", 200)))
    parser.add_argument("--size", type=int, default=int(os.environ.get("SIZE", 512)))
    parser.add_argument("--reps", type=int, default=int(os.environ.get("REPS", 3)))
    parser.add_argument("--dir", default="var/bench")
    args = parser.parse_args()
    binary = os.path.abspath(args.bin)
    base = os.path.abspath(args.dir)
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    inbox, mapping = os.path.join(base, "inbox"), os.path.join(base, "mapping.csv")
    subprocess.run([binary, "sample", "--output", inbox, "--mapping", mapping, "--patients", str(args.patients),
                    "--slices", str(args.slices), "--size", str(args.size)], check=True, stdout=subprocess.DEVNULL)
    files, size = tree_size(inbox)
    mb = size / 1e6
    for root, _, names in os.walk(inbox):  # warm the page cache for every contender
        for name in names:
            with open(os.path.join(root, name), "rb") as f:
                f.read()

    def out(name):
        path = os.path.join(base, name)
        shutil.rmtree(path, ignore_errors=True)
        return path

    contenders = [
        ("cp -r", lambda: f"cp -r {inbox} {out('cp')} && sync -f {base}", True),
        ("ctdeid run --deface off", lambda: [binary, "run", "--input", inbox, "--output", out("meta"), "--mapping", mapping,
                                             "--database", os.path.join(out("meta-db"), "db.sqlite"), "--deface", "off",
                                             "--quiet"], False),
        ("ctdeid run (defacing)", lambda: [binary, "run", "--input", inbox, "--output", out("deface"), "--mapping", mapping,
                                           "--database", os.path.join(out("deface-db"), "db.sqlite"), "--quiet"], False),
    ]
    if shutil.which("gdcmanon") and shutil.which("openssl"):
        key, cert = os.path.join(base, "key.pem"), os.path.join(base, "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-keyout", key, "-out", cert, "-days", "1",
                        "-nodes", "-subj", "/CN=ctdeid-bench"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        contenders.append(("gdcmanon (GDCM)", lambda: ["gdcmanon", "-c", cert, "-r", "--continue", "-i", inbox,
                                                       "-o", out("gdcmanon")], False))
    if shutil.which("dcmodify"):
        # dcmodify edits in place: copy, then modify the copy; both count.
        tags = "-ma '(0010,0010)=ANON' -ma '(0010,0020)=ANON' -ea '(0010,0030)' -ea '(0008,0090)' -ea '(0008,0080)' -ie -nb -imt"
        contenders.append(("cp -r + dcmodify (DCMTK)", lambda: f"cp -r {inbox} {out('dcmodify')} && find {base}/dcmodify -type f -print0"
                                                                f" | xargs -0 -n 100 -P 2 dcmodify {tags} && sync -f {base}", True))
    results = {name: [] for name, _, _ in contenders}
    for _ in range(args.reps):
        for name, command, shell in contenders:
            for stale in ("meta-db", "deface-db"):
                shutil.rmtree(os.path.join(base, stale), ignore_errors=True)
            cmd = command()
            if not shell:  # every contender ends with its output on disk, as a delivery must
                cmd = " ".join(f"'{c}'" for c in cmd) + f" && sync -f {base}"
            elif "sync -f" not in cmd:
                cmd += f" && sync -f {base}"
            results[name].append(timed(cmd, shell=True))

    cp_time = statistics.median(s for s, _ in results["cp -r"])
    print(f"\ncorpus: {args.patients} patients x {args.slices} slices of {args.size}x{args.size} = {files} files, "
          f"{mb:.0f} MB; median of {args.reps} alternating runs on {os.cpu_count()} cores")
    print(f"{'tool':28} {'seconds':>8} {'files/s':>8} {'MB/s':>7} {'x cp time':>10} {'peak RSS MiB':>13}")
    for name, _, _ in contenders:
        seconds = statistics.median(s for s, _ in results[name])
        rss = max(r for _, r in results[name])
        print(f"{name:28} {seconds:8.2f} {files / seconds:8.0f} {mb / seconds:7.0f} {seconds / cp_time:10.2f} {rss:13.0f}")

    added = (statistics.median(s for s, _ in results["ctdeid run (defacing)"])
             - statistics.median(s for s, _ in results["ctdeid run --deface off"])) / args.patients
    print(f"defacing adds {added:.2f} s per {args.slices}-slice {args.size}x{args.size} series "
          f"(ctdeid with defacing minus ctdeid --deface off, per patient)")

    # The service: from the last study renamed into the inbox to its delivery, minus the settle time.
    settle = 1.0
    tree = out("serve")
    staging = os.path.join(tree, "incoming")
    shutil.copytree(inbox, staging)
    sync(base)  # the copy's own writeback is not the service's work (every contender above starts flushed too)
    log = open(os.path.join(base, "serve.log"), "w")
    daemon = subprocess.Popen([binary, "serve", "--inbox", os.path.join(tree, "inbox"), "--outbox", os.path.join(tree, "outbox"),
                               "--work", os.path.join(tree, "work"), "--quarantine", os.path.join(tree, "quarantine"),
                               "--done", os.path.join(tree, "done"), "--mappings", os.path.join(tree, "mappings"),
                               "--database", os.path.join(tree, "db.sqlite"), "--key-file", os.path.join(tree, "secret.key"),
                               "--qa", os.path.join(tree, "qa"), "--settle-seconds", str(settle), "--deface", "off"],
                              stdout=log, stderr=log)
    subprocess.run([binary, "mapping", "import", mapping, "--database", os.path.join(tree, "db.sqlite")], check=True,
                   stdout=subprocess.DEVNULL)
    time.sleep(1.5)
    names = sorted(os.listdir(staging))
    for name in names:
        os.rename(os.path.join(staging, name), os.path.join(tree, "inbox", name))
    dropped = time.perf_counter()
    db = sqlite3.connect(os.path.join(tree, "db.sqlite"))
    while db.execute("SELECT count(*) FROM jobs WHERE state = 'delivered'").fetchone()[0] < len(names):
        if time.perf_counter() - dropped > 600:
            sys.exit("bench: the service did not deliver within 600 s")
        if daemon.poll() is not None:
            log.flush()
            with open(os.path.join(base, "serve.log")) as f:
                sys.exit(f"bench: the service exited ({daemon.returncode}) before delivering:\n{f.read()[-2000:]}")
        time.sleep(0.02)
    delivered = time.perf_counter() - dropped
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=60)
    print(f"\nctdeid serve (--deface off): {len(names)} studies renamed into the inbox at once were delivered "
          f"{delivered - settle:.2f} s after the settle time ({settle:.0f} s); {files / (delivered - settle):.0f} files/s")


if __name__ == "__main__":
    main()
