#!/usr/bin/env python3
"""make bench-memory: peak memory of ctdeid on the two loads issue #5 bounds.

1. One long series: SLICES (default 1,000) slices of SIZE x SIZE (default 512) through `ctdeid run`
   with defacing on (the volume is held in memory as 16-bit voxels: 512 x 512 x 1,000 = 500 MiB).
2. A backlog: FILES (default 10,000) files in folders of 200 slices of 128 x 128, all in the inbox
   before `ctdeid serve` starts, served until every job is delivered; its peak RSS (VmHWM) is read
   from /proc just before SIGTERM.

Prints seconds, files/s and peak RSS in MiB for each. Usage: scripts/bench_memory.py BIN [--dir var/bench-memory]
"""
import argparse
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time


def sample(binary, out, mapping, patients, slices, size):
    subprocess.run([binary, "sample", "--output", out, "--mapping", mapping, "--patients", str(patients),
                    "--slices", str(slices), "--size", str(size)], check=True, stdout=subprocess.DEVNULL)


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bin")
    parser.add_argument("--dir", default="var/bench-memory")
    parser.add_argument("--slices", type=int, default=int(os.environ.get("SLICES", 1000)))
    parser.add_argument("--size", type=int, default=int(os.environ.get("SIZE", 512)))
    parser.add_argument("--files", type=int, default=int(os.environ.get("FILES", 10000)))
    args = parser.parse_args()
    binary = os.path.abspath(args.bin)
    base = os.path.abspath(args.dir)
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)

    # 1. One long series, defaced.
    series, mapping = os.path.join(base, "series"), os.path.join(base, "series.csv")
    sample(binary, series, mapping, 1, args.slices, args.size)
    out = os.path.join(base, "series-out")
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", binary, "run", "--input", series, "--output", out,
                           "--mapping", mapping, "--database", os.path.join(base, "series-db", "db.sqlite"), "--quiet"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"bench-memory: ctdeid run failed: {proc.stderr[-800:]}")
    series_rss = int(proc.stderr.split()[-1]) / 1024
    shutil.rmtree(series, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)

    # 2. A backlog of small files, served.
    per_folder = 200
    folders = max(1, args.files // per_folder)
    tree = os.path.join(base, "serve")
    inbox, backlog_mapping = os.path.join(tree, "inbox"), os.path.join(base, "backlog.csv")
    sample(binary, inbox, backlog_mapping, folders, per_folder, 128)
    files = sum(len(names) for _, _, names in os.walk(inbox))
    database = os.path.join(tree, "db.sqlite")
    subprocess.run([binary, "mapping", "import", backlog_mapping, "--database", database], check=True,
                   stdout=subprocess.DEVNULL)
    log = open(os.path.join(base, "serve.log"), "w")
    start = time.perf_counter()
    daemon = subprocess.Popen([binary, "serve", "--inbox", inbox, "--outbox", os.path.join(tree, "outbox"),
                               "--work", os.path.join(tree, "work"), "--quarantine", os.path.join(tree, "quarantine"),
                               "--done", os.path.join(tree, "done"), "--mappings", os.path.join(tree, "mappings"),
                               "--database", database, "--key-file", os.path.join(tree, "secret.key"),
                               "--qa", os.path.join(tree, "qa"), "--settle-seconds", "1"], stdout=log, stderr=log)
    db = sqlite3.connect(database)
    while db.execute("SELECT count(*) FROM jobs WHERE state IN ('delivered', 'held', 'failed', 'quarantined')").fetchone()[0] < folders:
        if daemon.poll() is not None:
            sys.exit("bench-memory: the service stopped; see " + os.path.join(base, "serve.log"))
        if time.perf_counter() - start > 3600:
            sys.exit("bench-memory: the backlog was not done within an hour")
        time.sleep(0.2)
    seconds_backlog = time.perf_counter() - start
    backlog_rss = peak_rss_mib(daemon.pid)
    delivered = db.execute("SELECT count(*) FROM jobs WHERE state = 'delivered'").fetchone()[0]
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=60)
    shutil.rmtree(tree, ignore_errors=True)

    print(f"\n{'load':52} {'seconds':>8} {'files/s':>8} {'peak RSS MiB':>13}")
    print(f"{f'ctdeid run, 1 series of {args.slices} x {args.size}x{args.size}, defaced':52} {seconds:8.1f} "
          f"{args.slices / seconds:8.0f} {series_rss:13.0f}")
    print(f"{f'ctdeid serve, backlog of {files} files ({folders} folders)':52} {seconds_backlog:8.1f} "
          f"{files / seconds_backlog:8.0f} {backlog_rss:13.0f}")
    print(f"({delivered} of {folders} backlog jobs delivered; serve time includes the 1 s settle and start-up)")


if __name__ == "__main__":
    main()
