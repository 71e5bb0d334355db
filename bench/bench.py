#!/usr/bin/env python3
"""Side-by-side benchmark: the same config and load against the reference nginx and oxresty.

For each workload, rounds alternate reference / oxresty (interleaved, so machine noise hits
both alike). Each round starts the server fresh with one worker, runs wrk on loopback for a
bounded time, and reads the server's CPU time from /proc. Prints medians and the ratios
oxresty/nginx of requests per second and of server CPU per request.

    bench/bench.py [--rounds N] [--duration S] [--connections C] [--only NAME]

Needs: wrk and /usr/sbin/nginx (scripts/setup-debian.sh installs the reference; wrk is
Debian's `wrk`), and a release build of oxresty (built here if missing).
"""

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NGINX = "/usr/sbin/nginx"
OXRESTY = os.path.join(REPO, "target", "release", "oxresty")

MAIN = """{main}
worker_processes 1;
daemon off;
pid logs/nginx.pid;
error_log logs/error.log error;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    default_type text/plain;
    keepalive_requests 100000;
{http}
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        root html;
{server}
    }}
}}
"""

LUA_MODULES = (
    "load_module /usr/lib/nginx/modules/ndk_http_module.so;\n"
    "load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;"
)

WORKLOADS = {
    "return-200": {
        "http": "",
        "server": "        location = /r { return 200 \"hello\\n\"; }",
        "path": "/r",
    },
    "static-4k": {"http": "", "server": "", "path": "/4k.bin"},
    "static-1m": {"http": "", "server": "", "path": "/1m.bin"},
    "regex-20-map": {
        "http": "    map $uri $bucket { default none; ~^/api/v(?<v>\\d+)/ api$v; /health ok; }",
        "server": "\n".join(
            f"        location ~ ^/r{i}/(\\w+)$ {{ return 200 \"r{i} $1 $bucket\\n\"; }}"
            for i in range(20)
        )
        + "\n        location / { return 200 \"default $bucket\\n\"; }",
        "path": "/r19/abc",
    },
    # lua-nginx-module is a dynamic module in Debian's nginx (oxresty accepts load_module).
    "lua-hello": {
        "main": LUA_MODULES,
        "http": "",
        "server": "        location = /l { content_by_lua_block { ngx.say(\"hello\") } }",
        "path": "/l",
    },
    "lua-shdict-incr-get": {
        "main": LUA_MODULES,
        "http": "    lua_shared_dict bench 10m;",
        "server": "        location = /d { content_by_lua_block {\n"
        "            local d = ngx.shared.bench\n"
        "            d:incr(\"hits\", 1, 0)\n"
        "            ngx.say(d:get(\"hits\"))\n"
        "        } }",
        "path": "/d",
    },
    "lua-re-match": {
        "main": LUA_MODULES,
        "http": "",
        "server": "        location /re/ { content_by_lua_block {\n"
        "            local m = ngx.re.match(ngx.var.uri, [[^/re/(\\w+)/(\\d+)$]], \"jo\")\n"
        "            ngx.say(m[1], \" \", m[2])\n"
        "        } }",
        "path": "/re/abc/12345",
    },
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def cpu_seconds(pid):
    """utime + stime of a process and all its threads, from /proc (clock ticks -> s)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def server_pids(proc, binary):
    """nginx has a master and a worker process; oxresty one process."""
    pids = [proc.pid]
    try:
        out = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
        pids += [int(p) for p in out.stdout.split()]
    except OSError:
        pass
    return pids


def run_round(binary, prefix, port, path, args):
    cmd = [binary, "-p", prefix + "/", "-c", "conf/nginx.conf", "-e", "logs/error.log"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_port(port):
            return None
        subprocess.run(
            ["wrk", "-t1", "-c", str(args.connections), "-d", "1s", f"http://127.0.0.1:{port}{path}"],
            capture_output=True, timeout=30,
        )
        pids = server_pids(proc, binary)
        before = sum(cpu_seconds(p) or 0 for p in pids)
        out = subprocess.run(
            ["wrk", "-t1", "-c", str(args.connections), "-d", f"{args.duration}s",
             f"http://127.0.0.1:{port}{path}"],
            capture_output=True, text=True, timeout=args.duration + 30,
        ).stdout
        after = sum(cpu_seconds(p) or 0 for p in pids)
        m = re.search(r"Requests/sec:\s+([\d.]+)", out)
        total = re.search(r"(\d+) requests in", out)
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if not m or not total:
            return None
        reqs = int(total.group(1))
        return {
            "rps": float(m.group(1)),
            "cpu_us_per_req": (after - before) / reqs * 1e6 if reqs else None,
            "errors": int(errors.group(1)) if errors else 0,
        }
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def make_prefix(root, name, wl, port):
    prefix = os.path.join(root, name)
    os.makedirs(os.path.join(prefix, "conf"))
    os.makedirs(os.path.join(prefix, "logs"))
    os.makedirs(os.path.join(prefix, "html"))
    with open(os.path.join(prefix, "html", "4k.bin"), "wb") as f:
        f.write(b"x" * 4096)
    with open(os.path.join(prefix, "html", "1m.bin"), "wb") as f:
        f.write(b"y" * (1 << 20))
    with open(os.path.join(prefix, "conf", "nginx.conf"), "w") as f:
        f.write(
            MAIN.format(main=wl.get("main", ""), http=wl["http"], server=wl["server"], port=port)
        )
    return prefix


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--only")
    args = ap.parse_args()
    for tool in ("wrk", NGINX):
        if not shutil.which(tool):
            sys.exit(f"bench: {tool} not found (scripts/setup-debian.sh, apt-get install wrk)")
    if not os.path.exists(OXRESTY):
        subprocess.run(["cargo", "build", "--release", "-q"], cwd=REPO, check=True)
    root = tempfile.mkdtemp(prefix="oxresty-bench.")
    rows = []
    try:
        for name, wl in WORKLOADS.items():
            if args.only and args.only != name:
                continue
            results = {"nginx": [], "oxresty": []}
            for r in range(args.rounds):
                for label, binary in (("nginx", NGINX), ("oxresty", OXRESTY)):
                    port = free_port()
                    prefix = make_prefix(root, f"{name}-{label}-{r}", wl, port)
                    res = run_round(binary, prefix, port, wl["path"], args)
                    if res:
                        results[label].append(res)
            rows.append((name, results))
    finally:
        shutil.rmtree(root, ignore_errors=True)

    def med(rs, key):
        vals = [x[key] for x in rs if x.get(key) is not None]
        return statistics.median(vals) if vals else None

    print(f"{'workload':<14} {'nginx rps':>11} {'oxresty rps':>12} {'rps ratio':>10} "
          f"{'nginx cpu/req':>14} {'oxresty cpu/req':>16} {'cpu ratio':>10} {'errors':>7}")
    for name, res in rows:
        n_rps, o_rps = med(res["nginx"], "rps"), med(res["oxresty"], "rps")
        n_cpu, o_cpu = med(res["nginx"], "cpu_us_per_req"), med(res["oxresty"], "cpu_us_per_req")
        errs = sum(x["errors"] for x in res["oxresty"])
        f = lambda v, fmt: (fmt % v) if v is not None else "n/a"
        ratio = lambda a, b: f"{a / b:.2f}x" if a and b else "n/a"
        print(f"{name:<14} {f(n_rps, '%.0f'):>11} {f(o_rps, '%.0f'):>12} {ratio(o_rps, n_rps):>10} "
              f"{f(n_cpu, '%.1f us'):>14} {f(o_cpu, '%.1f us'):>16} {ratio(o_cpu, n_cpu):>10} {errs:>7}")
    print(f"(medians of {args.rounds} interleaved rounds, {args.duration}s each, "
          f"{args.connections} connections, one worker each, loopback)")


if __name__ == "__main__":
    main()
