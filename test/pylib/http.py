"""The tests' HTTP client for synod's API, on 127.0.0.1 only.

Every call returns a Response and never raises for the network: status 0
means no HTTP answer came (the reason is in `error`), and `sent` is False
only when the connection could not even be opened, so the request certainly
did not arrive (the chaos clients tell "refused" from "ambiguous" by it).
"""
import http.client
import json

from pylib import openapi


class Response:
    """One answer: status, the body as text (`raw`) and as JSON (`json`, None
    when it is not JSON), and the headers under lower-case names."""

    __slots__ = ("status", "raw", "headers", "json", "error", "sent", "node")

    def __init__(self, status, body=b"", headers=None, error=None, sent=True):
        self.status = status
        self.raw = body.decode("utf-8", "replace")
        self.headers = headers or {}
        self.error = error
        self.sent = sent
        self.node = None  # the node asked, for clients that move between nodes
        self.json = None
        if self.raw:
            try:
                self.json = json.loads(self.raw)
            except ValueError:
                pass

    def code(self):
        """The error code of an error answer ({"error": {"code": ...}}), or None."""
        try:
            return self.json["error"]["code"]
        except (TypeError, KeyError):
            return None

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return f"<{self.status} {self.error or self.raw[:200]!r}>"


def encode(body):
    """A dict or list goes as JSON, text as UTF-8, bytes as they are."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    return body


# The context every Http and event stream uses when given none: set by a
# process whose clusters all speak TLS (the chaos suite's --tls).
_default_ssl_context = None


def use_tls_everywhere(context):
    """From now on every client of this process speaks HTTPS with `context`."""
    global _default_ssl_context
    _default_ssl_context = context


# Headers every request of this process carries unless it sets them itself:
# the chaos suite's --auth sends its token with every request.
_default_headers = {}


def use_token_everywhere(token):
    """From now on every request of this process carries `Authorization: Bearer token`."""
    _default_headers["Authorization"] = f"Bearer {token}"


def sent_headers(headers):
    """The headers a request goes with: the process's defaults, then its own."""
    merged = dict(_default_headers)
    merged.update(headers or {})
    return merged


class _Defaults:
    def request(self, method, url, body=None, headers=None, **kwargs):
        merged = dict(_default_headers)
        merged.update(headers or {})
        super().request(method, url, body=body, headers=merged, **kwargs)


class _HTTPConnection(_Defaults, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_Defaults, http.client.HTTPSConnection):
    pass


def new_connection(host, port, timeout, ssl_context=None):
    """An HTTP or, with a context (or the process default), an HTTPS connection; not yet opened."""
    context = ssl_context if ssl_context is not None else _default_ssl_context
    if context is not None:
        return _HTTPSConnection(host, port, timeout=timeout, context=context)
    return _HTTPConnection(host, port, timeout=timeout)


class Http:
    """Keep-alive connections of one client thread, one per port; HTTPS with
    an ssl.SSLContext (a TLS cluster: pylib/tls.py)."""

    def __init__(self, host="127.0.0.1", ssl_context=None):
        self.host = host
        self.ssl_context = ssl_context
        self.connections = {}

    def call(self, port, method, path, body=None, headers=None, timeout=5.0):
        connection = self.connections.get(port)
        if connection is None:
            connection = new_connection(self.host, port, timeout, self.ssl_context)
            try:
                connection.connect()
            except OSError as error:
                connection.close()
                return Response(0, error=f"connect: {error}", sent=False)
            self.connections[port] = connection
        else:
            connection.timeout = timeout
            if connection.sock is not None:
                connection.sock.settimeout(timeout)
        sent = encode(body)
        try:
            connection.request(method, path, body=sent, headers=headers or {})
            answer = connection.getresponse()
            raw = answer.read()
            result = Response(answer.status, raw, {k.lower(): v for k, v in answer.getheaders()})
            if answer.will_close:
                self.drop(port)
        except (OSError, http.client.HTTPException) as error:
            self.drop(port)
            return Response(0, error=f"{type(error).__name__}: {error}")
        if openapi.enabled():  # the API tests hold every exchange to docs/openapi.yaml
            openapi.check_exchange(method, path, sent_headers(headers), sent, result.status, result.headers, raw)
        return result

    def drop(self, port):
        connection = self.connections.pop(port, None)
        if connection is not None:
            connection.close()

    def close(self):
        for port in list(self.connections):
            self.drop(port)


def request(port, method, path, body=None, headers=None, timeout=5.0, ssl_context=None):
    """One request on a fresh connection to 127.0.0.1:port (HTTPS with ssl_context)."""
    client = Http(ssl_context=ssl_context)
    try:
        return client.call(port, method, path, body=body, headers=headers, timeout=timeout)
    finally:
        client.close()


def call(port, method, path, body=None, headers=None, timeout=20.0):
    """request() with the API tests' patience: a forwarded write may wait out an election."""
    return request(port, method, path, body=body, headers=headers, timeout=timeout)
