#!/usr/bin/env python3
"""Start time of `channel-sync serve` (issue 17): from exec to the first HTTP answer.

RUNS times: `serve` is started on a fresh data directory (schema created) and then once more
on that same directory (a restart), each on a free loopback port, and the time from just before
exec to the first HTTP response (any status) to `GET /` is taken; the process is then stopped.
No channel apps are configured; nothing leaves the machine.

  python3 scripts/serve-start-time.py --bin target/release/channel-sync [--runs 5]

Timings on a shared machine are noisy: compare medians taken under the same conditions.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answered(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            return s.recv(16).startswith(b"HTTP/")
    except OSError:
        return False


def one_run(binary, data_dir, timeout):
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "CHANNEL_SYNC_DATA": data_dir,
            "CHANNEL_SYNC_ADDR": f"127.0.0.1:{port}",
            "CHANNEL_SYNC_DEV_TOKEN": "fake-dev-token-for-start-time",
            "RUST_LOG": env.get("RUST_LOG", "warn"),
        }
    )
    started = time.perf_counter()
    process = subprocess.Popen(
        [binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        while not answered(port):
            if process.poll() is not None or time.perf_counter() - started > timeout:
                break
            time.sleep(0.001)
        else:
            return (time.perf_counter() - started) * 1000.0
    finally:
        process.terminate()
        try:
            _, stderr = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
    raise RuntimeError(f"no answer within {timeout}s: {stderr.decode('utf-8', 'replace')[-400:]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default="target/release/channel-sync")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=20.0)
    args = parser.parse_args()
    fresh, restart = [], []
    try:
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as data_dir:
                fresh.append(one_run(args.bin, data_dir, args.timeout))
                restart.append(one_run(args.bin, data_dir, args.timeout))
    except (RuntimeError, OSError) as e:
        print(f"serve failed: {e}", file=sys.stderr)
        return 1
    print(f"serve start, exec → first HTTP answer ({args.runs} runs, {args.bin})")
    print(f"{'data dir':<10} {'median ms':>10} {'min ms':>8} {'max ms':>8}")
    for label, times in (("fresh", fresh), ("restart", restart)):
        print(
            f"{label:<10} {statistics.median(times):>10.1f} {min(times):>8.1f} {max(times):>8.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
