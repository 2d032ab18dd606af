"""Checks synod's HTTP traffic against docs/openapi.yaml (issue 21).

The API document is written by hand; this module holds the server to it.
Each request the tests make is matched to an operation of the document
(method, and path against its templates), its path, query and header
parameters and its body are checked, and then the answer: its status must be
one the operation declares, its Content-Type one of that response's media
types, its declared headers present and well formed, and its body valid
against the response's schema (errors against the error schema of their
status, whose codes are listed per status). A stream's events are checked
one by one against the schema its media type names for each event type
(`x-synod-events`).

What the document and the server must agree on, both ways:
  - a request the document refuses (an unknown parameter, a bad type, a
    missing required one) must be refused by the server: a 2xx is a mismatch;
  - a request the document accepts must not be refused by the server as
    MALFORMED (SHAPE_CODES: unknown_parameter, bad_type, ...): that is a
    document too loose for a client generated from it. Refusals for reasons
    the document cannot express (a TTL below 2 s, a session and a ttl given
    together) are fine;
  - a path the document does not have must be answered 404 no_route, a
    method it does not list for a path 405 with the document's methods in
    Allow.

The document is OpenAPI 3.0; its schemas become JSON Schema (draft 7, with
python3-jsonschema) here: `nullable: true` becomes anyOf with null, $ref to
components/schemas becomes $ref to definitions, boolean exclusiveMinimum
becomes numeric, and OpenAPI's own keywords (example, discriminator, x-...)
are dropped. Integers are JSON integers only (1.0 is not one).

Switched on by SYNOD_OPENAPI_CHECK=1 (test/api and test/security set it in
ctest): then pylib.http and pylib.sse pass every exchange to check_exchange
and StreamCheck. A mismatch raises OpenApiMismatch (an AssertionError) in
the thread that made the request, and is remembered, so that runner.py fails
the test even when a background thread swallowed it. SYNOD_OPENAPI_CHECK=all
raises nothing on the way: the test runs on, and fails at its end listing
every mismatch (for fixing the document in one go). At the end of the test
process runner.py prints how many responses (and events) were validated, and
writes the counts to $SYNOD_OPENAPI_COUNTS/<test>.json when that is set.

    python3 test/pylib/openapi.py lint               the document alone: refs, schemas, path parameters
    python3 test/pylib/openapi.py summary DIR        the counts the tests wrote, and the operations no test reached

Needs python3-yaml and python3-jsonschema (deploy/install-deps.sh --test),
imported only when checking is on.
"""
import atexit
import collections
import json
import os
import re
import sys
import threading

if __name__ == "__main__":
    # Run as a script, this directory comes first on the path, and its http.py
    # would stand in for the standard library's http (which jsonschema imports).
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]

DOCUMENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "openapi.yaml")
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

# The 400 codes that say a request is malformed in a way the document can
# say too: the server refusing with one of them a request the document
# accepts means the document is too loose.
SHAPE_CODES = frozenset({
    "unknown_parameter", "unknown_field", "unexpected_body", "bad_type", "bad_json", "bad_number", "bad_duration",
    "bad_session", "bad_id", "name_too_long", "key_too_long", "duplicate_parameter", "bad_query",
    "bad_idempotency_key"})


class OpenApiMismatch(AssertionError):
    """The server and docs/openapi.yaml disagree about one exchange."""


def enabled():
    return os.environ.get("SYNOD_OPENAPI_CHECK", "") not in ("", "0")


# ---------------------------------------------------------------- the document

def _pointer(document, ref):
    if not ref.startswith("#/"):
        raise ValueError(f"only local $refs: {ref}")
    node = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


_OPENAPI_ONLY = {"nullable", "discriminator", "readOnly", "writeOnly", "xml", "externalDocs", "example", "deprecated"}
_SUBSCHEMA = {"items", "not", "additionalProperties"}
_SUBSCHEMAS = {"allOf", "anyOf", "oneOf"}


def translate(schema):
    """An OpenAPI 3.0 Schema Object as JSON Schema (draft 7)."""
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:  # OpenAPI 3.0: a $ref's siblings are ignored
        ref = schema["$ref"]
        if not ref.startswith("#/components/schemas/"):
            raise ValueError(f"a schema $ref outside components/schemas: {ref}")
        return {"$ref": "#/definitions/" + ref[len("#/components/schemas/"):]}
    out = {}
    for key, value in schema.items():
        if key in _OPENAPI_ONLY or key.startswith("x-"):
            continue
        if key == "properties":
            out[key] = {name: translate(sub) for name, sub in value.items()}
        elif key in _SUBSCHEMA and isinstance(value, dict):
            out[key] = translate(value)
        elif key in _SUBSCHEMAS:
            out[key] = [translate(sub) for sub in value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            if value and bound in schema:
                out[key] = schema[bound]
        elif key in ("minimum", "maximum") and schema.get("exclusive" + key.capitalize()) is True:
            continue
        else:
            out[key] = value
    if schema.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


def _media_type(content_type):
    return (content_type or "").split(";")[0].strip().lower()


def _percent_decode(text):
    """synod's percent-decoding (http/text): %XX only, '+' stays a plus; None if malformed."""
    out = bytearray()
    i = 0
    raw = text.encode("utf-8", "surrogateescape")
    while i < len(raw):
        c = raw[i]
        if c == 0x25:  # '%'
            hex_digits = raw[i + 1:i + 3]
            if len(hex_digits) != 2 or not all(chr(h) in "0123456789abcdefABCDEF" for h in hex_digits):
                return None
            out.append(int(hex_digits, 16))
            i += 3
        else:
            out.append(c)
            i += 1
    return bytes(out)


def _text(data):
    """Bytes as text, or None if they are not UTF-8 (the server refuses those names and keys)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


class Operation:
    def __init__(self, contract, method, template, path_item, op):
        self.method = method.upper()
        self.template = template
        self.op = op
        self.id = op.get("operationId", f"{self.method} {template}")
        params = {}
        for p in path_item.get("parameters", []) + op.get("parameters", []):
            p = contract.resolve(p)
            params[(p["in"], p["name"].lower() if p["in"] == "header" else p["name"])] = p
        self.params = params
        self.rest = {p["name"] for p in params.values() if p["in"] == "path" and p.get("x-synod-rest-of-path")}
        # A free-form query (an object parameter, form style, exploded): any names, each a string.
        self.free_query = any(p["in"] == "query" and contract.resolve(p.get("schema", {})).get("type") == "object"
                              and p.get("explode", True) for p in params.values())
        pattern = ""
        for segment in template.strip("/").split("/") if template != "/" else []:
            pattern += "/"
            m = re.fullmatch(r"\{(\w+)\}", segment)
            if not m:
                pattern += re.escape(segment)
            elif m.group(1) in self.rest:
                pattern += f"(?P<{m.group(1)}>.*)"
            else:
                pattern += f"(?P<{m.group(1)}>[^/]+)"
        self.regex = re.compile("^" + (pattern or "/") + "$")

    def __repr__(self):
        return f"{self.method} {self.template}"


class Contract:
    """docs/openapi.yaml, loaded, translated and ready to check exchanges."""

    def __init__(self, path=DOCUMENT):
        import jsonschema  # noqa: F401  (python3-jsonschema)
        import yaml  # python3-yaml
        with open(path, encoding="utf-8") as f:
            self.document = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml: 10x faster
        self.definitions = {name: translate(schema)
                            for name, schema in self.document.get("components", {}).get("schemas", {}).items()}
        self.operations = []
        self.paths = {}
        for template, item in self.document["paths"].items():
            ops = []
            for method in METHODS:
                if method in item:
                    ops.append(Operation(self, method, template, item, item[method]))
            self.paths[template] = ops
            self.operations.extend(ops)
        self._validators = {}
        self._lock = threading.Lock()

    def resolve(self, node):
        seen = 0
        while isinstance(node, dict) and "$ref" in node:
            node = _pointer(self.document, node["$ref"])
            seen += 1
            if seen > 20:
                raise ValueError("a $ref loop")
        return node

    def validator(self, schema):
        """A draft-7 validator of an OpenAPI schema (cached)."""
        key = id(schema)
        with self._lock:
            found = self._validators.get(key)
            if found is None:
                import jsonschema
                checker = jsonschema.Draft7Validator.TYPE_CHECKER.redefine(
                    "integer", lambda _, x: isinstance(x, int) and not isinstance(x, bool))
                cls = jsonschema.validators.extend(jsonschema.Draft7Validator, type_checker=checker)
                root = dict(translate(schema))
                root["definitions"] = self.definitions
                found = (cls(root), root, schema)
                self._validators[key] = found
        return found[0]

    def schema_errors(self, schema, instance, where):
        """What is wrong with `instance` against an OpenAPI schema: a list of
        'at $.a.b: message [schema #/components/schemas/X/properties/b]'."""
        validator = self.validator(schema)
        problems = []
        for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path)):
            problems.append(f"at {error.json_path}: {_short(error.message)} "
                            f"[schema {self._schema_location(where, validator.schema, error.absolute_schema_path)}]")
            if len(problems) == 3:
                break
        return problems

    def _schema_location(self, where, root, schema_path):
        """Follows an error's schema path to name the place in the document. The
        path leaves out the $refs it went through (jsonschema), so each is
        followed where the next step is not in the schema at hand."""
        chain, location, node = [], where, root
        for step in schema_path:
            while isinstance(node, dict) and "$ref" in node and step not in node:
                name = node["$ref"].rsplit("/", 1)[1]
                chain.append(location)
                location, node = f"#/components/schemas/{name}", self.definitions[name]
            try:
                node = node[step]
            except (KeyError, IndexError, TypeError):
                node = None
            location += f"/{step}"
        return " -> ".join(chain[-2:] + [location])

    # ---- matching

    def match(self, method, path):
        """(operation, path parameters) for a request, or (None, methods the path has) when
        the method does not fit, or (None, None) when no path does."""
        fitting = []
        for template, ops in self.paths.items():
            if not ops:
                continue
            m = ops[0].regex.match(path)
            if not m:
                continue
            for op in ops:
                if op.method == method:
                    return op, m.groupdict()
            fitting.extend(op.method for op in ops)
        return None, (set(fitting) if fitting else None)

    # ---- requests

    def request_problems(self, op, raw_params, query, headers, body):
        """Why the document refuses this request ([] if it accepts it)."""
        problems = []
        where = f"#/paths/{_escape(op.template)}/{op.method.lower()}"
        # Path parameters, percent-decoded (a rest-of-path one segment by segment).
        for name, raw in raw_params.items():
            spec = op.params.get(("path", name))
            if spec is None:
                problems.append(f"path parameter {{{name}}} is not declared")
                continue
            parts = raw.split("/") if name in op.rest else [raw]
            decoded = [_percent_decode(part) for part in parts]
            if any(d is None for d in decoded):
                problems.append(f"path parameter {name}: a malformed %-escape")
                continue
            value = _text(b"/".join(decoded))
            if value is None:
                problems.append(f"path parameter {name}: not UTF-8")
                continue
            problems += self._parameter_problems(spec, value, True, where)
        # Query parameters: each once, each declared, each well formed; the required ones given.
        seen = set()
        for item in query.split("&") if query else []:
            if not item:
                continue
            name, has_value, value = item.partition("=")
            name, value = _percent_decode(name), _percent_decode(value)
            if name is None or value is None:
                problems.append("the query has a malformed %-escape")
                continue
            name, value = name.decode("utf-8", "replace"), value.decode("utf-8", "replace")
            if name in seen:
                problems.append(f"query parameter {name!r} is given twice")
                continue
            seen.add(name)
            spec = op.params.get(("query", name))
            if spec is None:
                if not op.free_query:
                    problems.append(f"query parameter {name!r} is not declared")
                continue
            problems += self._parameter_problems(spec, value, bool(has_value), where)
        for (place, name), spec in op.params.items():
            if spec.get("required") and place == "query" and name not in seen:
                problems.append(f"the required query parameter {name!r} is missing")
        # Header parameters (only those the document declares: HTTP has many more).
        lowered = {k.lower(): v for k, v in (headers or {}).items()}
        for (place, name), spec in op.params.items():
            if place != "header":
                continue
            if name in lowered:
                problems += self._parameter_problems(spec, str(lowered[name]), True, where)
            elif spec.get("required"):
                problems.append(f"the required header {spec['name']} is missing")
        # The body.
        problems += self._body_problems(op, body, where)
        return problems

    def _parameter_problems(self, spec, text, has_value, where):
        schema = spec.get("schema", {})
        kind = self.resolve(schema).get("type")
        if not has_value or text == "":
            if kind == "boolean" and spec.get("allowEmptyValue"):
                return []
            if spec["in"] == "query" and not spec.get("allowEmptyValue"):
                return [f"{spec['in']} parameter {spec['name']!r} is empty"]
        value = text
        if kind == "integer" and re.fullmatch(r"-?[0-9]+", text):
            value = int(text)
        elif kind == "boolean" and text in ("true", "1", "false", "0"):
            value = text in ("true", "1")
        found = self.schema_errors(schema, value, f"{where}/parameters/{spec['name']}/schema")
        return [f"{spec['in']} parameter {spec['name']!r}={text[:60]!r}: {p}" for p in found]

    def _body_problems(self, op, body, where):
        body = body or b""
        spec = self.resolve(op.op.get("requestBody")) if op.op.get("requestBody") else None
        if spec is None:
            return ["a body, but the operation takes none"] if body else []
        content = spec.get("content", {})
        if "application/json" in content:
            if not body.strip():
                return ["the required body is missing"] if spec.get("required") else []
            try:
                instance = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                return ["the body is not JSON (UTF-8)"]
            schema = content["application/json"].get("schema", {})
            return [f"body {p}" for p in self.schema_errors(schema, instance, f"{where}/requestBody/content/"
                                                                              f"application~1json/schema")]
        if "application/octet-stream" in content:
            limit = self.resolve(content["application/octet-stream"].get("schema", {})).get("maxLength")
            if limit is not None and len(body) > limit:
                return [f"the body has {len(body)} bytes, more than {limit}"]
            return []
        return []

    # ---- responses

    def response_problems(self, op, status, headers, body, stream=False):
        """Why this answer does not fit the operation ([] if it does); and the
        media type object it was checked against (for a stream's events)."""
        where = f"#/paths/{_escape(op.template)}/{op.method.lower()}/responses"
        responses = op.op.get("responses", {})
        key = str(status) if str(status) in responses else "default" if "default" in responses else None
        if key is None:
            return [f"status {status} is not declared (declared: {', '.join(sorted(map(str, responses)))})"], None
        where += f"/{key}"
        response = self.resolve(responses[key])
        problems = self._header_problems(response.get("headers", {}), headers, where)
        content = response.get("content")
        media = _media_type(headers.get("content-type"))
        if not content:
            if body:
                problems.append(f"a body ({media}), but the response declares none")
            return problems, None
        if media not in content:
            problems.append(f"Content-Type {headers.get('content-type')!r} is not one of {sorted(content)}")
            return problems, None
        media_object = content[media]
        if stream:
            return problems, media_object
        if media == "application/json" or media.endswith("+json"):
            try:
                instance = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                problems.append(f"the body is not JSON: {body[:120]!r}")
                return problems, media_object
            schema = media_object.get("schema", {})
            problems += [f"body {p}" for p in self.schema_errors(schema, instance,
                                                                 f"{where}/content/{_escape(media)}/schema")]
        return problems, media_object

    def _header_problems(self, declared, headers, where):
        problems = []
        for name, spec in declared.items():
            spec = self.resolve(spec)
            value = headers.get(name.lower())
            if value is None:
                if spec.get("required"):
                    problems.append(f"the header {name} is missing")
                continue
            schema = spec.get("schema", {})
            instance = value
            kind = self.resolve(schema).get("type")
            if kind == "integer" and re.fullmatch(r"-?[0-9]+", value):
                instance = int(value)
            problems += [f"header {name}: {value!r} {p}"
                         for p in self.schema_errors(schema, instance, f"{where}/headers/{name}/schema")]
        return problems

    def refusal_problems(self, status, headers, body, code, allow=None):
        """A path or method the document does not have: 404 no_route, or 405 with Allow."""
        schema = {"$ref": "#/components/schemas/" + ("NotFoundError" if status == 404 else "MethodNotAllowedError")}
        try:
            instance = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return [f"the body is not JSON: {body[:120]!r}"]
        problems = [f"body {p}" for p in self.schema_errors(schema, instance, schema["$ref"])]
        if not problems and instance["error"]["code"] != code:
            problems.append(f"the code is {instance['error']['code']!r}, not {code!r}")
        if allow is not None:
            served = {m.strip() for m in headers.get("allow", "").split(",") if m.strip()}
            if served != allow:
                problems.append(f"Allow says {sorted(served)}, the document {sorted(allow)}")
        return problems

    def event_problems(self, media_object, event_type, data, where):
        events = media_object.get("x-synod-events")
        if events is None:
            return []
        schema = events.get(event_type, events.get("*"))
        if schema is None:
            return [f"event {event_type!r} is not declared (declared: {sorted(events)})"]
        try:
            instance = json.loads(data)
        except ValueError:
            return [f"event {event_type!r}: the data is not JSON: {data[:120]!r}"]
        return [f"event {event_type!r} {p}" for p in self.schema_errors(schema, instance, where)]


def _escape(text):
    return text.replace("~", "~0").replace("/", "~1")


def _short(message):
    return message if len(message) <= 300 else message[:300] + "..."


# ------------------------------------------------------------ the process's check

_contract = None
_contract_lock = threading.Lock()
_counts_lock = threading.Lock()
_counts = collections.Counter()
_operations = collections.Counter()
_failures = []
_reported = False


def contract():
    global _contract
    with _contract_lock:
        if _contract is None:
            try:
                _contract = Contract()
            except ImportError as error:
                raise OpenApiMismatch(f"SYNOD_OPENAPI_CHECK needs python3-yaml and python3-jsonschema "
                                      f"(deploy/install-deps.sh --test): {error}") from None
            # A script that does not run through runner.py still says what was checked.
            atexit.register(lambda: _reported or report(os.path.splitext(os.path.basename(sys.argv[0]))[0]))
        return _contract


def _fail(method, target, status, problems):
    message = f"docs/openapi.yaml disagrees with the server: {method} {target[:200]} -> {status}:\n  " + \
        "\n  ".join(problems)
    with _counts_lock:
        _failures.append(message)
    if os.environ.get("SYNOD_OPENAPI_CHECK") != "all":
        raise OpenApiMismatch(message)


def _check(method, target, headers, body, status, response_headers, response_body, stream=False):
    """Checks one exchange; returns the media type object of a stream, None otherwise."""
    c = contract()
    path, _, query = target.partition("?")
    op, found = c.match(method, path)
    if op is None:
        if found is None:
            problems = [] if status == 404 else [f"no path of the document fits {path!r}, and the server "
                                                 f"answered {status}, not 404 no_route"]
            problems = problems or c.refusal_problems(status, response_headers, response_body, "no_route")
            kind = "no_route"
        else:
            problems = [] if status == 405 else [f"the document has no {method} for {path!r} (only "
                                                 f"{sorted(found)}), and the server answered {status}, not 405"]
            problems = problems or c.refusal_problems(status, response_headers, response_body,
                                                      "method_not_allowed", found)
            kind = "method_not_allowed"
        if problems:
            _fail(method, target, status, problems)
        with _counts_lock:
            _counts["responses"] += 1
            _operations[kind] += 1
        return None
    refused = c.request_problems(op, found, query, headers, body)
    problems, media_object = c.response_problems(op, status, response_headers, response_body, stream)
    code = None
    if status >= 400 and not problems and (_media_type(response_headers.get("content-type")) == "application/json"):
        try:
            code = json.loads(response_body.decode("utf-8"))["error"]["code"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            code = None
    if refused and 200 <= status < 300:
        problems.append(f"the document refuses this request ({'; '.join(refused)}), but the server "
                        f"accepted it ({op.id})")
    if not refused and status == 400 and code in SHAPE_CODES:
        problems.append(f"the server refuses this request as malformed ({code}), but the document accepts "
                        f"it ({op.id}): a parameter, type or field it should describe")
    if problems:
        _fail(method, target, status, [f"[{op.id}] {p}" for p in problems])
    with _counts_lock:
        _counts["responses"] += 1
        if refused:
            _counts["refused_requests"] += 1
        _operations[op.id] += 1
    return media_object


def check_exchange(method, target, headers, body, status, response_headers, response_body):
    """Checks one request (headers as sent, body as bytes) and its answer
    (headers under lower-case names, the body as bytes); raises OpenApiMismatch."""
    if status == 0:
        return  # no answer: nothing to check
    _check(method, target, headers, body or b"", status, response_headers, response_body or b"")


class StreamCheck:
    """A stream's head, checked; then each event, with event()."""

    def __init__(self, method, target, headers, status, response_headers, body=b""):
        self.target = target
        self.media_object = _check(method, target, headers, b"", status, response_headers, body,
                                   stream=status == 200)

    def event(self, event_type, data):
        if self.media_object is None:
            return
        problems = contract().event_problems(self.media_object, event_type or "message", data,
                                             f"x-synod-events/{event_type}")
        if problems:
            _fail("GET", self.target, 200, problems)
        with _counts_lock:
            _counts["events"] += 1


def failures():
    with _counts_lock:
        return list(_failures)


def report(test):
    """Prints the counts, and writes them to $SYNOD_OPENAPI_COUNTS/<test>.json when set."""
    global _reported
    if not enabled():
        return
    _reported = True
    with _counts_lock:
        counts, operations, failed = dict(_counts), dict(_operations), len(_failures)
    print(f"openapi: {counts.get('responses', 0)} responses ({counts.get('refused_requests', 0)} to requests the "
          f"document refuses) and {counts.get('events', 0)} stream events validated against docs/openapi.yaml; "
          f"{failed} mismatches")
    directory = os.environ.get("SYNOD_OPENAPI_COUNTS")
    if directory:
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, f"{test}.json"), "w", encoding="utf-8") as f:
            json.dump({"test": test, "counts": counts, "operations": operations, "mismatches": failed}, f)


def forget():
    """Drops the counts and mismatches so far, and reports nothing at exit (test_openapi.py's made-up exchanges)."""
    global _reported
    with _counts_lock:
        _counts.clear()
        _operations.clear()
        _failures.clear()
        _reported = True


def raise_if_failed():
    found = failures()
    if found:
        shown = "\n".join(found[:20])
        raise OpenApiMismatch(f"{len(found)} exchanges disagreed with docs/openapi.yaml:\n{shown}")


# ---------------------------------------------------------------- the commands

def lint(path=DOCUMENT):
    """Problems of the document itself: unresolvable $refs, schemas that are
    not valid JSON Schema, path templates whose parameters are not declared,
    operations without an id or with one used twice."""
    import jsonschema
    c = Contract(path)
    problems = []

    def walk(node, where):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                try:
                    _pointer(c.document, node["$ref"])
                except (KeyError, IndexError, ValueError):
                    problems.append(f"{where}: $ref {node['$ref']} does not resolve")
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}/{i}")

    walk(c.document, "#")

    def fragments(node, where):
        # An unquoted string with a comma in a flow mapping ({description: a, b})
        # parses as a second key with no value: quote it.
        if isinstance(node, dict):
            for key, value in node.items():
                if value is None:
                    problems.append(f"{where}: {key!r} has no value (an unquoted comma in a flow mapping?)")
                fragments(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                fragments(value, f"{where}/{i}")

    fragments(c.document, "#")

    def patterns(node, where):
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                try:
                    re.compile(node["pattern"])
                except re.error as error:
                    problems.append(f"{where}/pattern: {error}")
            for key, value in node.items():
                patterns(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                patterns(value, f"{where}/{i}")

    patterns(c.document, "#")
    for name, schema in c.definitions.items():
        try:
            jsonschema.Draft7Validator.check_schema(schema)
        except jsonschema.SchemaError as error:
            problems.append(f"#/components/schemas/{name}: {error.message}")
    ids = collections.Counter(op.id for op in c.operations)
    for op in c.operations:
        if "operationId" not in op.op:
            problems.append(f"{op}: no operationId")
        if ids[op.id] > 1:
            problems.append(f"{op}: operationId {op.id} is used twice")
        names = set(re.findall(r"\{(\w+)\}", op.template))
        declared = {name for (place, name) in op.params if place == "path"}
        if names != declared:
            problems.append(f"{op}: path parameters {sorted(names)}, declared {sorted(declared)}")
        if "responses" not in op.op or not any(str(s).startswith("2") for s in op.op["responses"]):
            problems.append(f"{op}: no 2xx response")
    return c, problems


def summary(directory):
    """Sums the counts the tests wrote; lists the operations no test reached."""
    totals, operations, files = collections.Counter(), collections.Counter(), 0
    for name in sorted(os.listdir(directory)):
        if name.endswith(".json"):
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                record = json.load(f)
            totals.update(record["counts"])
            operations.update(record["operations"])
            files += 1
    c = Contract()
    unreached = [op.id for op in c.operations if operations[op.id] == 0]
    print(f"{totals['responses']} responses ({totals['refused_requests']} to requests the document refuses) and "
          f"{totals['events']} stream events validated against docs/openapi.yaml by {files} tests; "
          f"{len(c.operations) - len(unreached)} of {len(c.operations)} operations reached")
    if unreached:
        print("operations no test reached: " + ", ".join(unreached))
    return 0


def main(argv):
    if len(argv) >= 2 and argv[1] == "lint":
        c, problems = lint(argv[2] if len(argv) > 2 else DOCUMENT)
        for problem in problems:
            print(problem)
        print(f"{len(c.operations)} operations, {len(c.definitions)} schemas, {len(problems)} problems")
        return 1 if problems else 0
    if len(argv) == 3 and argv[1] == "summary":
        return summary(argv[2])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
