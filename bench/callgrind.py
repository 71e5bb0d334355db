#!/usr/bin/env python3
"""User-space instructions per request, counted by callgrind (deterministic where CPU time on a
shared machine is not): the server (oxresty's release build, or --bin /usr/sbin/nginx) runs
under valgrind with one worker and master_process off; 200 warm-up requests, the counters
zeroed, then N requests over C keep-alive connections, and the dump's total / N.

    bench/callgrind.py [--path /r | --path /lua --lua] [-n 2000] [-c 8] [--bin PATH]
"""
import os, socket, subprocess, sys, tempfile, threading, time, glob, re, argparse
ap = argparse.ArgumentParser()
ap.add_argument("--bin", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "target", "release", "oxresty"))
ap.add_argument("--path", default="/r")
ap.add_argument("-n", type=int, default=2000)
ap.add_argument("-c", type=int, default=8)
ap.add_argument("--port", type=int, default=18433)
ap.add_argument("--lua", action="store_true")
a = ap.parse_args()
pre = tempfile.mkdtemp(prefix="cg")
os.makedirs(pre + "/conf"); os.makedirs(pre + "/logs")
mods = ""
if a.lua and "nginx" == os.path.basename(a.bin):
    mods = "load_module /usr/lib/nginx/modules/ndk_http_module.so;\nload_module /usr/lib/nginx/modules/ngx_http_lua_module.so;\n"
open(pre + "/conf/nginx.conf", "w").write(mods + """
worker_processes 1; master_process off; daemon off;
pid logs/nginx.pid; error_log logs/error.log error;
events { worker_connections 1024; }
http { access_log off; default_type text/plain; keepalive_requests 100000;
 server { listen 127.0.0.1:%d; server_name localhost;
  location = /r { return 200 "hello\\n"; }
%s
 }
}
""" % (a.port, '  location = /lua { content_by_lua_block { ngx.say("hello") } }' if a.lua else ''))
out = pre + "/cg.out"
p = subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, "--dump-instr=yes",
                      a.bin, "-p", pre + "/", "-c", "conf/nginx.conf", "-e", "logs/error.log"],
                     stdout=subprocess.DEVNULL, stderr=open(pre + "/vg.err", "w"))
def req(s, buf):
    s.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: cg\r\nAccept: */*\r\n\r\n" % a.path.encode())
    while True:
        i = buf.find(b"\r\n\r\n")
        if i >= 0:
            head = buf[:i].lower()
            m = re.search(rb"content-length: (\d+)", head)
            if m:
                end = i + 4 + int(m.group(1))
                if len(buf) >= end:
                    return buf[end:]
            elif b"chunked" in head:
                j = buf.find(b"0\r\n\r\n", i + 4)
                if j >= 0:
                    return buf[j + 5:]
        d = s.recv(65536)
        if not d: raise Exception("closed")
        buf += d
def load(n):
    def w(k):
        s = socket.create_connection(("127.0.0.1", a.port)); buf = b""
        for _ in range(k): buf = req(s, buf)
        s.close()
    ts = [threading.Thread(target=w, args=(n // a.c,)) for _ in range(a.c)]
    for t in ts: t.start()
    for t in ts: t.join()
try:
    for _ in range(600):
        try: socket.create_connection(("127.0.0.1", a.port)).close(); break
        except OSError: time.sleep(0.1)
    load(200)
    time.sleep(0.3)
    subprocess.run(["callgrind_control", "-z", str(p.pid)], stdout=subprocess.DEVNULL, check=True)
    load(a.n)
    time.sleep(0.3)
    subprocess.run(["callgrind_control", "-d", str(p.pid)], stdout=subprocess.DEVNULL, check=True)
    time.sleep(0.5)
finally:
    p.terminate()
    try: p.wait(20)
    except Exception: p.kill()
f = sorted(glob.glob(out + "*"), key=os.path.getmtime)
dumps = [x for x in f if re.search(r"\.\d+$", x) or x.endswith(".1")]
fn = [x for x in f if x != out][0] if len(f) > 1 else f[0]
tot = None
for line in open(fn):
    if line.startswith("summary:") or line.startswith("totals:"):
        tot = int(line.split()[1])
print("%s %s: %.1f instr/request  (%s)" % (os.path.basename(a.bin), a.path, tot / a.n, fn))
