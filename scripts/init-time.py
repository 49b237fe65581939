#!/usr/bin/env python3
"""Init time of each Lambda function (issue 17): from exec to its first runtime-API `next`.

For each function binary, RUNS times: a fake Lambda Runtime API listens on a loopback port,
the binary is started with the local stack's environment (moto for DynamoDB, SQS and Secrets
Manager, as `make lambda-local` provisions it) plus the variables the Lambda runtime sets, and
the time from just before exec to the first `GET /2018-06-01/runtime/invocation/next` is taken
(everything `main` does first: SDK configuration, secrets, channel registry, warm-up). The
process is then killed; no invocation is served. Prints the median, min and max per function.

  python3 scripts/init-time.py --bin-dir target/release --env-file .lambda-local.env [--runs 7]
  (`make init-time` starts moto, provisions the stack and runs this on the release binaries.)

Timings on a shared machine are noisy: compare medians taken under the same conditions.
"""

import argparse
import http.server
import os
import statistics
import subprocess
import sys
import threading
import time

FUNCTIONS = [
    "webhooks",
    "order-import",
    "api",
    "oauth",
    "scheduler",
    "jobs",
    "tracking-export",
    "inventory-push",
]


def read_env_file(path):
    env = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                name, value = line.split("=", 1)
                env[name] = value
    return env


class FakeRuntimeApi:
    """Answers nothing useful: records when the first `next` arrives, then holds it."""

    def __init__(self):
        self.first_next = None
        self.init_error = None
        self.event = threading.Event()
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.endswith("/runtime/invocation/next") and api.first_next is None:
                    api.first_next = time.perf_counter()
                    api.event.set()
                # Hold the long poll (as the real API does) until the process is killed.
                time.sleep(30)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path.endswith("/runtime/init/error"):
                    api.init_error = body.decode("utf-8", "replace")
                    api.event.set()
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def address(self):
        host, port = self.server.server_address
        return f"{host}:{port}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def one_run(binary, name, base_env, timeout):
    api = FakeRuntimeApi()
    env = dict(base_env)
    env.update(
        {
            "AWS_LAMBDA_RUNTIME_API": api.address,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "init-time",
            "RUST_LOG": env.get("RUST_LOG", "warn"),
        }
    )
    started = time.perf_counter()
    process = subprocess.Popen(
        [binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        api.event.wait(timeout)
    finally:
        process.kill()
        _, stderr = process.communicate()
        api.close()
    if api.first_next is None:
        why = api.init_error or stderr.decode("utf-8", "replace").strip()[-400:]
        raise RuntimeError(f"{name}: no `next` within {timeout}s: {why}")
    return (api.first_next - started) * 1000.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin-dir", default="target/release")
    parser.add_argument("--env-file", default=".lambda-local.env")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("functions", nargs="*", default=FUNCTIONS)
    args = parser.parse_args()

    base_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_LAMBDA_")}
    base_env.update(read_env_file(args.env_file))
    print(f"init time, exec → first runtime-API `next` ({args.runs} runs, {args.bin_dir})")
    print(f"{'function':<16} {'median ms':>10} {'min ms':>8} {'max ms':>8}")
    failed = False
    for name in args.functions:
        binary = os.path.join(args.bin_dir, name)
        try:
            times = [one_run(binary, name, base_env, args.timeout) for _ in range(args.runs)]
        except (RuntimeError, OSError) as e:
            print(f"{name:<16} failed: {e}", file=sys.stderr)
            failed = True
            continue
        print(
            f"{name:<16} {statistics.median(times):>10.1f} {min(times):>8.1f} {max(times):>8.1f}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
