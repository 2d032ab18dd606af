"""synod's Python test library: one copy of what the process tests share.

  cluster     local clusters of synod processes on 127.0.0.1 (start, stop, kill, pause, restart)
  proxied     a Cluster whose inter-node links cross the fault-injecting proxy (netproxy.py)
  http        the HTTP client: one-shot requests, keep-alive connections, one Response type
  sse         server-sent events: the parser, a background reader and a caller-driven stream
  netproxy    the fault-injecting TCP proxy, a program ProxiedCluster runs as a child process
  prometheus  the Prometheus text format of GET /metrics
  wait        polling with a deadline: until(), retry()
  runner      runs one test function of a test module by name (the ctest entry point)
  openapi     holds every request and answer to docs/openapi.yaml when SYNOD_OPENAPI_CHECK=1 (issue 21)

Scripts find it by putting test/ on sys.path, relative to their own file:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib
Python 3 standard library only, but openapi, which needs Debian's python3-yaml and
python3-jsonschema (deploy/install-deps.sh --test) once switched on; every address is
127.0.0.1 (or localhost).
"""
