#!/usr/bin/env python3
"""Side-by-side benchmark: the same config and load against the reference nginx and oxresty.

For each workload, rounds alternate reference / oxresty (interleaved, so machine noise hits
both alike). Each round starts the server fresh with one worker, runs wrk on loopback for a
bounded time, and reads the server's CPU time from /proc. Prints medians and the ratios
oxresty/nginx of requests per second and of server CPU per request.

    bench/bench.py [--rounds N] [--duration S] [--connections C] [--only NAME]

Needs: wrk and /usr/sbin/nginx (scripts/setup-debian.sh installs the reference; wrk is
Debian's `wrk`), openssl and h2load (nghttp2-client) for the TLS and HTTP/2 workloads, and a
release build of oxresty (built here if missing; OXRESTY_BIN=PATH runs another build instead).
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
OXRESTY = os.environ.get("OXRESTY_BIN") or os.path.join(REPO, "target", "release", "oxresty")

MAIN = """{main}
worker_processes 1;
daemon off;
pid logs/nginx.pid;
error_log logs/error.log error;
events {{ worker_connections 1024; }}
{stream}
http {{
    access_log off;
    default_type text/plain;
    keepalive_requests 100000;
{http}
    server {{
        listen 127.0.0.1:{http_port}{listen};
        server_name localhost;
        root html;
{tls}
{server}
    }}
}}
"""

# The reference loads ngx_lua as Debian packages it; oxresty has it built in and accepts these.
LUA_MODULES = """
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;"""

RETURN = "        location = /r { return 200 \"hello\\n\"; }"

# TLS workloads: certificates made once per run (RSA 2048, as most deployments), TLS 1.2 on
# both sides (the reference 1.22's default; oxresty's default adds TLS 1.3).
TLS_CONF = """        ssl_protocols TLSv1.2;
        ssl_certificate {certs}/cert.pem;
        ssl_certificate_key {certs}/key.pem;
        ssl_session_cache shared:SSL:10m;"""

WORKLOADS = {
    "return-200": {
        "http": "",
        "server": "        location = /r { return 200 \"hello\\n\"; }",
        "path": "/r",
    },
    "static-4k": {"http": "", "server": "", "path": "/4k.bin"},
    "static-1m": {"http": "", "server": "", "path": "/1m.bin"},
    # Debian's nginx.conf has `sendfile on` (nginx's own default is off: pread + write).
    "static-4k-sendfile": {"http": "    sendfile on;", "server": "", "path": "/4k.bin"},
    "static-1m-sendfile": {"http": "    sendfile on;", "server": "", "path": "/1m.bin"},
    # The proxy workloads forward to one shared backend (the reference nginx, answering
    # `hello`); only the proxy's CPU is measured. The backend's stub_status counts the
    # upstream connections, hence requests per upstream connection (the reuse rate).
    "proxy": {
        "http": "",
        "server": "        location = /p { proxy_pass http://127.0.0.1:{backend}/r; }",
        "path": "/p",
        "backend": True,
    },
    "proxy-keepalive": {
        "http": "    upstream b { server 127.0.0.1:{backend}; keepalive 32; }",
        "server": "        location = /p { proxy_http_version 1.1; "
        "proxy_set_header Connection \"\"; proxy_pass http://b/r; }",
        "path": "/p",
        "backend": True,
    },
    "lua-proxy-ka": {
        "main": "load_module /usr/lib/nginx/modules/ndk_http_module.so;\n"
        "load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;",
        "http": "    upstream b { server 127.0.0.1:{backend}; keepalive 32; }",
        "server": "        location = /p { access_by_lua_block { if ngx.var.arg_t ~= \"ok\" then "
        "return ngx.exit(401) end } proxy_http_version 1.1; "
        "proxy_set_header Connection \"\"; proxy_pass http://b/r; }",
        "path": "/p?t=ok",
        "backend": True,
    },
    "regex-20-map": {
        "http": "    map $uri $bucket { default none; ~^/api/v(?<v>\\d+)/ api$v; /health ok; }",
        "server": "\n".join(
            f"        location ~ ^/r{i}/(\\w+)$ {{ return 200 \"r{i} $1 $bucket\\n\"; }}"
            for i in range(20)
        )
        + "\n        location / { return 200 \"default $bucket\\n\"; }",
        "path": "/r19/abc",
    },
    "lua-hello": {
        "main": LUA_MODULES,
        "http": "",
        "server": "        location = /l { content_by_lua_block { ngx.say(\"hello\") } }",
        "path": "/l",
    },
    "lua-shdict": {
        "main": LUA_MODULES,
        "http": "    lua_shared_dict d 1m;",
        "server": "        location = /s { content_by_lua_block {\n"
        "            local d = ngx.shared.d\n"
        "            d:incr(\"hits\", 1, 0)\n"
        "            ngx.say(d:get(\"hits\"))\n"
        "        } }",
        "path": "/s",
    },
    "lua-re-match": {
        "main": LUA_MODULES,
        "http": "",
        "server": "        location /re/ { content_by_lua_block {\n"
        "            local m = ngx.re.match(ngx.var.uri, [[^/re/(\\w+)/(\\d+)$]], \"jo\")\n"
        "            ngx.say(m[1], \" \", m[2])\n"
        "        } }",
        "path": "/re/abc/123",
    },
    # HTTPS keep-alive throughput (TLS 1.2, nginx 1.22's default protocols).
    # A TCP stream proxy in front of the shared backend: wrk's keep-alive connections are
    # relayed byte for byte (the reference loads ngx_stream_module as Debian packages it).
    "stream-proxy": {
        "main": "load_module /usr/lib/nginx/modules/ngx_stream_module.so;",
        "stream": "stream {{ server {{ listen 127.0.0.1:{port}; proxy_pass 127.0.0.1:{backend}; }} }}",
        "http": "",
        "server": "",
        "path": "/r",
        "backend": True,
    },
    "https-keepalive": {"http": "", "server": RETURN, "path": "/r", "listen": " ssl"},
    # TLS handshakes per second: one full handshake per request (wrk keeps no sessions).
    "https-handshake": {
        "http": "", "server": RETURN, "path": "/r", "listen": " ssl",
        "wrk": ["-H", "Connection: close"],
    },
    # HTTP/2 over TLS, 10 streams per connection (h2load).
    "h2-keepalive": {"http": "", "server": RETURN, "path": "/r", "listen": " ssl http2", "h2load": True},
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


BACKEND_CONF = """
worker_processes 1;
daemon off;
pid logs/nginx.pid;
error_log logs/error.log error;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:%d;
        location = /r { return 200 "hello\\n"; }
        location = /status { stub_status; }
    }
}
"""


def start_backend(root):
    """The shared backend of the proxy workloads: the reference nginx, one worker."""
    port = free_port()
    prefix = os.path.join(root, "backend")
    for d in ("conf", "logs"):
        os.makedirs(os.path.join(prefix, d))
    with open(os.path.join(prefix, "conf", "nginx.conf"), "w") as f:
        f.write(BACKEND_CONF % port)
    proc = subprocess.Popen(
        [NGINX, "-p", prefix + "/", "-c", "conf/nginx.conf", "-e", "logs/error.log"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    if not wait_port(port):
        proc.kill()
        sys.exit("bench: the backend did not start")
    return proc, port


def backend_accepts(port):
    """Connections the backend accepted so far (stub_status' `accepts`)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET /status HTTP/1.0\r\nHost: b\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        m = re.search(rb"\n\s*(\d+)\s+(\d+)\s+(\d+)", data)
        return int(m.group(1)) if m else None
    except OSError:
        return None


def run_round(binary, prefix, port, path, args, wl, backend=None):
    cmd = [binary, "-p", prefix + "/", "-c", "conf/nginx.conf", "-e", "logs/error.log"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_port(port):
            return None
        scheme = "https" if " ssl" in wl.get("listen", "") else "http"
        url = f"{scheme}://127.0.0.1:{port}{path}"

        def client(seconds):
            if wl.get("h2load"):
                return ["h2load", "-c", str(args.connections), "-m", "10", "-D", str(seconds), url]
            return (["wrk", "-t1", "-c", str(args.connections), "-d", f"{seconds}s"]
                    + wl.get("wrk", []) + [url])

        subprocess.run(client(1), capture_output=True, timeout=30)
        pids = server_pids(proc, binary)
        before = sum(cpu_seconds(p) or 0 for p in pids)
        acc_before = backend_accepts(backend) if backend else None
        out = subprocess.run(
            client(args.duration), capture_output=True, text=True, timeout=args.duration + 30,
        ).stdout
        after = sum(cpu_seconds(p) or 0 for p in pids)
        acc_after = backend_accepts(backend) if backend else None
        if wl.get("h2load"):
            # h2load: "finished in 5.00s, 12345.67 req/s, ..." and "requests: N total, N started,
            # N done, N succeeded, N failed, N errored".
            m = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
            total = re.search(r"requests: \d+ total, \d+ started, (\d+) done", out)
            errors = re.search(r"requests: .* (\d+) failed", out)
        else:
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
            # requests per upstream connection (1.0: no reuse)
            "reuse": (reqs / (acc_after - acc_before)
                      if acc_before is not None and acc_after is not None
                      and acc_after > acc_before else None),
        }
    finally:
        proc.send_signal(signal.SIGQUIT)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def make_certs(root):
    """A self-signed RSA certificate for the TLS workloads."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", os.path.join(root, "key.pem"), "-out", os.path.join(root, "cert.pem"),
         "-subj", "/CN=localhost"],
        check=True, capture_output=True,
    )


def make_prefix(root, name, wl, port, backend=None):
    prefix = os.path.join(root, name)
    os.makedirs(os.path.join(prefix, "conf"))
    os.makedirs(os.path.join(prefix, "logs"))
    os.makedirs(os.path.join(prefix, "html"))
    with open(os.path.join(prefix, "html", "4k.bin"), "wb") as f:
        f.write(b"x" * 4096)
    with open(os.path.join(prefix, "html", "1m.bin"), "wb") as f:
        f.write(b"y" * (1 << 20))
    with open(os.path.join(prefix, "conf", "nginx.conf"), "w") as f:
        http, server = wl["http"], wl["server"]
        if backend:
            http = http.replace("{backend}", str(backend))
            server = server.replace("{backend}", str(backend))
        listen = wl.get("listen", "")
        tls = TLS_CONF.format(certs=root) if " ssl" in listen else ""
        # A stream workload listens on `port` itself; its http server moves aside.
        stream = wl.get("stream", "")
        http_port = free_port() if stream else port
        if stream:
            stream = stream.format(port=port, backend=backend)
        f.write(MAIN.format(main=wl.get("main", ""), http=http, server=server, port=port,
                            http_port=http_port, listen=listen, tls=tls, stream=stream))
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
    # The reference's worker runs as `nobody` when started as root: it must be able to read
    # the static files (mkdtemp makes the directory 0700; every request would be a 403).
    os.chmod(root, 0o755)
    make_certs(root)
    rows = []
    backend_proc, backend = None, None
    try:
        if any(wl.get("backend") and (not args.only or args.only == name)
               for name, wl in WORKLOADS.items()):
            backend_proc, backend = start_backend(root)
        for name, wl in WORKLOADS.items():
            if args.only and args.only != name:
                continue
            results = {"nginx": [], "oxresty": []}
            for r in range(args.rounds):
                for label, binary in (("nginx", NGINX), ("oxresty", OXRESTY)):
                    port = free_port()
                    be = backend if wl.get("backend") else None
                    prefix = make_prefix(root, f"{name}-{label}-{r}", wl, port, be)
                    res = run_round(binary, prefix, port, wl["path"], args, wl, be)
                    if res:
                        results[label].append(res)
            rows.append((name, results))
    finally:
        if backend_proc:
            backend_proc.send_signal(signal.SIGQUIT)
            try:
                backend_proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                backend_proc.kill()
        shutil.rmtree(root, ignore_errors=True)

    def med(rs, key):
        vals = [x[key] for x in rs if x.get(key) is not None]
        return statistics.median(vals) if vals else None

    print(f"{'workload':<16} {'nginx rps':>11} {'oxresty rps':>12} {'rps ratio':>10} "
          f"{'nginx cpu/req':>14} {'oxresty cpu/req':>16} {'cpu ratio':>10} {'errors n/o':>11} "
          f"{'reuse n/o':>11}")
    for name, res in rows:
        n_rps, o_rps = med(res["nginx"], "rps"), med(res["oxresty"], "rps")
        n_cpu, o_cpu = med(res["nginx"], "cpu_us_per_req"), med(res["oxresty"], "cpu_us_per_req")
        errs = (f'{sum(x["errors"] for x in res["nginx"])}/'
                f'{sum(x["errors"] for x in res["oxresty"])}')
        f = lambda v, fmt: (fmt % v) if v is not None else "n/a"
        ratio = lambda a, b: f"{a / b:.2f}x" if a and b else "n/a"
        n_re, o_re = med(res["nginx"], "reuse"), med(res["oxresty"], "reuse")
        reuse = f"{f(n_re, '%.0f')}/{f(o_re, '%.0f')}" if n_re or o_re else ""
        print(f"{name:<16} {f(n_rps, '%.0f'):>11} {f(o_rps, '%.0f'):>12} {ratio(o_rps, n_rps):>10} "
              f"{f(n_cpu, '%.1f us'):>14} {f(o_cpu, '%.1f us'):>16} {ratio(o_cpu, n_cpu):>10} {errs:>11} "
              f"{reuse:>11}")
    print(f"(medians of {args.rounds} interleaved rounds, {args.duration}s each, "
          f"{args.connections} connections, one worker each, loopback)")


if __name__ == "__main__":
    main()
