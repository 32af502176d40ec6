#!/usr/bin/env python3
"""make bench: ctdeid against `cp -r` and the peers on one synthetic corpus, in one run.

Runs alternate (cp, ctdeid metadata-only, ctdeid with defacing, gdcmanon, dcmodify, cp, ...), each
ending with `sync -f` so every contender's output is on disk (ctdeid flushes each job before it
delivers it; timing the others without a flush would compare a durable write with a cached one). The
median of REPS repetitions is reported with files/s, MB/s, the ratio to cp's time (1.00 = the speed
of copying the bytes) and the peak RSS. Then the service: the time from the moment the last study is
renamed into the inbox to its delivery, minus the settle time. Then the network: `ctdeid receive`
against DCMTK's `storescp` for the same storescu send, and the time from the last instance to delivery.

CPU s is the user + system time of the contender's processes (all threads): with the disk out of
the way (`--dir` on a tmpfs such as /dev/shm, where the flushes cost nothing), it is what decides.

Usage: scripts/bench.py BIN [--patients 3] [--slices 200] [--size 512] [--reps 3] [--dir var/bench] [--only network]
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
    """Seconds, peak RSS (MiB) and CPU seconds (user + system, all threads and children) of one
    command, the last two through GNU time when available."""
    if shutil.which("time") and os.path.exists("/usr/bin/time"):
        fd, path = tempfile.mkstemp()
        os.close(fd)
        wrapped = ["/usr/bin/time", "-f", "%M %U %S", "-o", path] + (["bash", "-c", cmd] if shell else cmd)
        start = time.perf_counter()
        proc = subprocess.run(wrapped, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        seconds = time.perf_counter() - start
        with open(path) as f:
            fields = f.read().split()[-3:]  # GNU time may print a status line first
        os.unlink(path)
        if proc.returncode not in (0, 1):
            sys.exit(f"bench: {cmd} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-800:]}")
        return seconds, int(fields[0]) / 1024, float(fields[1]) + float(fields[2])
    start = time.perf_counter()
    subprocess.run(cmd, shell=shell, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, float("nan"), float("nan")


def tree_size(path):
    files = total = 0
    for root, _, names in os.walk(path):
        for name in names:
            files += 1
            total += os.path.getsize(os.path.join(root, name))
    return files, total


def sync(path):
    subprocess.run(["sync", "-f", path], check=False)


def burned_in_series(binary, base, reps):
    """Files/s with masking on the shared pseudo-PHI series (text in every slice), when ../shared is here."""
    shared = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "testdata", "phi",
                          "pseudo_phi_burned_in_series")
    if not os.path.isdir(shared):
        print("\nburned-in series: ../shared/testdata not here, skipped")
        return
    inbox = os.path.join(base, "burned-in", "inbox")
    shutil.rmtree(os.path.join(base, "burned-in"), ignore_errors=True)
    keys = []
    for series in sorted(os.listdir(shared)):
        folder = os.path.join(shared, series)
        if not os.path.isdir(folder):
            continue
        # One study per series, keyed by the accession its files carry.
        names = sorted(n for n in os.listdir(folder) if n.endswith(".dcm"))
        accession = subprocess.run(["dcmdump", "-q", "+P", "0008,0050", os.path.join(folder, names[0])],
                                   capture_output=True, text=True).stdout.split("[")[-1].split("]")[0]
        keys.append(accession)
        os.makedirs(os.path.join(inbox, accession))
        for name in names:
            shutil.copy(os.path.join(folder, name), os.path.join(inbox, accession, name))
    mapping = os.path.join(base, "burned-in", "mapping.csv")
    with open(mapping, "w") as f:
        f.write("Accession_number,De-identification_ID\n" + "".join(f"{k},BENCH-{i}\n" for i, k in enumerate(keys)))
    files, _ = tree_size(inbox)
    times = []
    for _ in range(reps):
        out = os.path.join(base, "burned-in", "run")
        shutil.rmtree(out, ignore_errors=True)
        cmd = (f"'{binary}' run --input '{inbox}' --output '{out}/out' --mapping '{mapping}' --database '{out}/db/db.sqlite'"
               f" --deface off --quiet; sync -f '{base}'")
        times.append(timed(cmd, shell=True)[0])
    seconds = statistics.median(times)
    print(f"\nburned-in series (shared pseudo-PHI CT and MR, text in every slice): {files} files masked and delivered in "
          f"{seconds:.2f} s = {files / seconds:.1f} files/s (ctdeid run --deface off, median of {reps})")


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_echo(port, process, what):
    """Until `echoscu` is answered on the port (the listener is up)."""
    deadline = time.perf_counter() + 30
    while subprocess.run(["echoscu", "-aet", "PACS1", "-aec", "CTDEID", "localhost", str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
        if process.poll() is not None or time.perf_counter() > deadline:
            sys.exit(f"bench: {what} is not answering on port {port}")
        time.sleep(0.05)


def network_receive(binary, base, inbox, mapping, files, reps):
    """`ctdeid receive` against DCMTK's `storescp` writing into a plain folder: the same storescu
    send of every corpus file over loopback, one association, ended by `sync -f` of the receiving
    tree (ctdeid receive flushes each instance before acknowledging it; storescp does not). Then the
    time from the last instance acknowledged to the delivery by `ctdeid serve`, minus the settle time."""
    if not (shutil.which("storescu") and shutil.which("storescp") and shutil.which("echoscu")):
        print("\nnetwork receive: skipped (storescu, storescp and echoscu come with Debian's dcmtk)")
        return
    send = ["storescu", "-aet", "PACS1", "-aec", "CTDEID", "+sd", "+r", "localhost"]
    # Debian's DCMTK tools leave Nagle's algorithm on unless TCP_NODELAY=1: every instance would then
    # wait ~40 ms for a delayed ACK, and both contenders would measure that. PACS senders set it.
    nodelay = dict(os.environ, TCP_NODELAY="1")
    receiver = [binary, "receive", "--allowed-calling-aes", "PACS1", "--allowed-peers", "127.0.0.1",
                "--database", os.path.join(base, "receive.sqlite")]
    results = {"storescp (DCMTK), a folder": [], "ctdeid receive, the inbox": []}
    root = os.path.join(base, "network")
    for rep in range(reps):
        for name in results:
            shutil.rmtree(root, ignore_errors=True)
            target = os.path.join(root, "in")
            os.makedirs(target)
            port = free_port()
            if name.startswith("storescp"):
                command = ["storescp", "-aet", "CTDEID", "+xa", "-pdu", "65536", "-od", target, str(port)]
            else:
                command = receiver + ["--inbox", target, "--port", str(port)]
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=nodelay)
            wait_for_echo(port, process, name)
            start = time.perf_counter()
            sent = subprocess.run(send + [str(port), inbox], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=nodelay)
            sync(target)
            seconds = time.perf_counter() - start
            process.terminate()
            process.wait(timeout=60)
            received, _ = tree_size(target)
            if sent.returncode != 0 or received != files:
                sys.exit(f"bench: {name}: {received} of {files} instances received: {sent.stderr.decode(errors='replace')[-800:]}")
            results[name].append(seconds)
    print(f"\nnetwork receive: {files} instances sent by storescu over loopback in one association, "
          f"median of {reps}, each ending with its files on disk")
    baseline = statistics.median(results["storescp (DCMTK), a folder"])
    for name, times in results.items():
        seconds = statistics.median(times)
        print(f"  {name:28} {seconds:7.2f} s {files / seconds:8.0f} instances/s {seconds / baseline:6.2f} x storescp time")

    # The whole way: receive and serve on one tree; from the last instance acknowledged to the
    # delivery of every study.
    settle = 1.0
    shutil.rmtree(root, ignore_errors=True)
    tree = {name: os.path.join(root, name) for name in ["inbox", "outbox", "work", "quarantine", "done", "mappings", "qa"]}
    database = os.path.join(root, "db.sqlite")
    log = open(os.path.join(base, "network.log"), "w")
    serve = subprocess.Popen([binary, "serve"] + [a for key, path in tree.items() for a in (f"--{key}", path)]
                             + ["--database", database, "--key-file", os.path.join(root, "secret.key"),
                                "--settle-seconds", str(settle), "--deface", "off"], stdout=log, stderr=log)
    subprocess.run([binary, "mapping", "import", mapping, "--database", database], check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    receive = subprocess.Popen(receiver + ["--inbox", tree["inbox"], "--port", str(port)], stdout=log, stderr=log)
    wait_for_echo(port, receive, "ctdeid receive")
    studies = len(os.listdir(inbox))
    start = time.perf_counter()
    subprocess.run(send + [str(port), inbox], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=nodelay)
    last = time.perf_counter()
    db = sqlite3.connect(database)
    while db.execute("SELECT count(*) FROM jobs WHERE state = 'delivered'").fetchone()[0] < studies:
        if time.perf_counter() - last > 600 or serve.poll() is not None:
            sys.exit("bench: the received studies were not delivered (see network.log)")
        time.sleep(0.02)
    delivered = time.perf_counter()
    for process in (receive, serve):
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    print(f"  ctdeid receive + serve (--deface off): sent in {last - start:.2f} s; every study delivered "
          f"{delivered - last - settle:.2f} s after the last instance and the settle time ({settle:.0f} s)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bin")
    parser.add_argument("--patients", type=int, default=int(os.environ.get("PATIENTS", 3)))
    parser.add_argument("--slices", type=int, default=int(os.environ.get("SLICES", 200)))
    parser.add_argument("--size", type=int, default=int(os.environ.get("SIZE", 512)))
    parser.add_argument("--reps", type=int, default=int(os.environ.get("REPS", 3)))
    parser.add_argument("--dir", default=os.environ.get("BENCH_DIR", "var/bench"))
    parser.add_argument("--only", choices=["network"], help="only this part (the corpus is made all the same)")
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

    if args.only == "network":
        network_receive(binary, base, inbox, mapping, files, args.reps)
        return

    # A run's output replaces the same contender's previous one, deleted just before it (all pay
    # alike): on a VM, memory the guest never touched is slow to touch the first time, and keeping
    # every run's output would make each run pay that.
    def fresh(label):
        path = os.path.join(base, "runs", label)
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        return path

    def ctdeid(out, *extra):
        return [binary, "run", "--input", inbox, "--output", os.path.join(out, "out"), "--mapping", mapping,
                "--database", os.path.join(out, "db", "db.sqlite"), "--quiet", *extra]

    contenders = [
        ("cp -r", lambda out: f"cp -r {inbox} {out}/out", True),
        ("ctdeid run --deface off", lambda out: ctdeid(out, "--deface", "off"), False),
        ("  same, --burned-in off", lambda out: ctdeid(out, "--deface", "off", "--burned-in", "off"), False),
        ("ctdeid run (defacing)", lambda out: ctdeid(out), False),
    ]
    if shutil.which("gdcmanon") and shutil.which("openssl"):
        key, cert = os.path.join(base, "key.pem"), os.path.join(base, "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-keyout", key, "-out", cert, "-days", "1",
                        "-nodes", "-subj", "/CN=ctdeid-bench"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        contenders.append(("gdcmanon (GDCM)", lambda out: ["gdcmanon", "-c", cert, "-r", "--continue", "-i", inbox,
                                                           "-o", os.path.join(out, "out")], False))
    if shutil.which("dcmodify"):
        # dcmodify edits in place: copy, then modify the copy; both count.
        tags = "-ma '(0010,0010)=ANON' -ma '(0010,0020)=ANON' -ea '(0010,0030)' -ea '(0008,0090)' -ea '(0008,0080)' -ie -nb -imt"
        contenders.append(("cp -r + dcmodify (DCMTK)", lambda out: f"cp -r {inbox} {out}/out && find {out}/out -type f -print0"
                                                                    f" | xargs -0 -n 100 -P 2 dcmodify {tags}", True))
    results = {name: [] for name, _, _ in contenders}
    sync(base)
    for rep in range(args.reps):
        for number, (name, command, shell) in enumerate(contenders):
            cmd = command(fresh(str(number)))
            if not shell:
                cmd = " ".join(f"'{c}'" for c in cmd)
            # Every contender ends with its output on disk, as a delivery must.
            results[name].append(timed(cmd + f" && sync -f {base}", shell=True))
    shutil.rmtree(os.path.join(base, "runs"), ignore_errors=True)

    def median(name, field=0):
        return statistics.median(r[field] for r in results[name])

    cp_time = median("cp -r")
    print(f"\ncorpus: {args.patients} patients x {args.slices} slices of {args.size}x{args.size} = {files} files, "
          f"{mb:.0f} MB in {base}; median of {args.reps} alternating runs on {os.cpu_count()} cores")
    print(f"{'tool':28} {'seconds':>8} {'files/s':>8} {'MB/s':>7} {'x cp time':>10} {'CPU s':>6} {'peak RSS MiB':>13}")
    for name, _, _ in contenders:
        seconds = median(name)
        rss = max(r[1] for r in results[name])
        print(f"{name:28} {seconds:8.2f} {files / seconds:8.0f} {mb / seconds:7.0f} {seconds / cp_time:10.2f} "
              f"{median(name, 2):6.2f} {rss:13.0f}")

    text = median("ctdeid run --deface off") / median("  same, --burned-in off") - 1
    print(f"the burned-in text check (screen + OCR of candidates) adds {100 * text:.0f}% to ctdeid run --deface off "
          f"on this text-free corpus")
    added = (median("ctdeid run (defacing)") - median("ctdeid run --deface off")) / args.patients
    print(f"defacing adds {added:.2f} s per {args.slices}-slice {args.size}x{args.size} series "
          f"(ctdeid with defacing minus ctdeid --deface off, per patient)")

    burned_in_series(binary, base, args.reps)

    # The service: from the last study renamed into the inbox to its delivery, minus the settle time.
    settle = 1.0
    tree = os.path.join(base, "serve")
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

    idle_rescan(binary, base)
    network_receive(binary, base, inbox, mapping, files, args.reps)


def idle_rescan(binary, base, folders=10000):
    """The periodic rescan of an idle inbox (what finds studies written onto a share without inotify
    events): `folders` study folders of 2 levels and 5 files each, settling for a day so that nothing
    moves, rescanned every 2 s; the service logs each rescan's duration. Against `du -s` of the same
    tree in the same run (a walk that stats every file), both on a warm cache."""
    tree = os.path.join(base, "idle")
    inbox = os.path.join(tree, "inbox")
    for n in range(folders):
        series = os.path.join(inbox, f"ACC{n:06d}", "study", "series")
        os.makedirs(series)
        for k in range(5):
            with open(os.path.join(series, f"IM{k}.dcm"), "wb") as f:
                f.write(b"x" * 512)
    du = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(["du", "-s", inbox], stdout=subprocess.DEVNULL, check=True)
        du.append(time.perf_counter() - start)
    log_path = os.path.join(base, "idle.log")
    log = open(log_path, "w")
    daemon = subprocess.Popen([binary, "serve", "--inbox", inbox, "--outbox", os.path.join(tree, "outbox"),
                               "--work", os.path.join(tree, "work"), "--quarantine", os.path.join(tree, "quarantine"),
                               "--done", os.path.join(tree, "done"), "--mappings", os.path.join(tree, "mappings"),
                               "--database", os.path.join(tree, "db.sqlite"), "--key-file", os.path.join(tree, "secret.key"),
                               "--qa", os.path.join(tree, "qa"), "--settle-seconds", "86400", "--rescan-seconds", "2",
                               "--log-level", "debug", "--deface", "off"], stdout=log, stderr=log)
    durations = []
    deadline = time.perf_counter() + 900
    while len(durations) < 6 and time.perf_counter() < deadline and daemon.poll() is None:
        time.sleep(1)
        log.flush()
        with open(log_path) as f:
            durations = [int(line.split(" ms=")[1].split()[0]) for line in f
                         if "inbox rescanned" in line and " ms=" in line and f"folders={folders}" in line]
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=60)
    if len(durations) < 6:
        sys.exit("bench: the idle inbox was not rescanned six times within 900 s; see " + log_path)
    rescan = statistics.median(durations[1:]) / 1000
    print(f"\nidle inbox of {folders} study folders ({folders * 5} files): a rescan takes {rescan * 1000:.0f} ms "
          f"(median of {len(durations) - 1}); du -s of the same tree {statistics.median(du) * 1000:.0f} ms "
          f"({rescan / statistics.median(du):.2f} x du); every 30 s by default")


if __name__ == "__main__":
    main()
