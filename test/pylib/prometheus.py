"""The Prometheus text exposition format, as GET /metrics serves it.

parse(text) reads every sample and every `# TYPE` line; label values may hold
escaped quotes, backslashes and newlines. scrape(port) fetches and parses.
"""
from pylib.http import request


class Metrics:
    """One scrape: samples as (name, labels dict, value), and each family's type."""

    def __init__(self):
        self.samples = []
        self.types = {}  # family name -> counter | gauge | histogram | summary | untyped

    def families(self):
        """The names declared by # TYPE."""
        return set(self.types)

    def values(self, name):
        """[(labels, value)] of every sample called `name`."""
        return [(labels, value) for sample, labels, value in self.samples if sample == name]

    def value(self, name, **labels):
        """The value of the one sample with exactly these labels; raises when there is none."""
        for sample, sample_labels, value in self.samples:
            if sample == name and sample_labels == labels:
                return value
        raise AssertionError(f"no metric {name}{labels or ''}")

    def by_key(self):
        """{(name, frozenset(labels.items())): value}, for differences between two scrapes."""
        return {(name, frozenset(labels.items())): value for name, labels, value in self.samples}


def _labels(text, line):
    """{name: value} of `a="x",b="y"` (the part inside the braces)."""
    labels, i = {}, 0
    while i < len(text):
        eq = text.index("=", i)
        name = text[i:eq].strip().lstrip(",").strip()
        if text[eq + 1] != '"':
            raise ValueError(f"unquoted label value in {line!r}")
        value, i = [], eq + 2
        while text[i] != '"':
            if text[i] == "\\":
                i += 1
                value.append({"n": "\n"}.get(text[i], text[i]))
            else:
                value.append(text[i])
            i += 1
        labels[name] = "".join(value)
        i += 1
        while i < len(text) and text[i] in ", ":
            i += 1
    return labels


def parse(text):
    metrics = Metrics()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            metrics.types[name] = kind.strip()
            continue
        if not line.strip() or line.startswith("#"):
            continue
        if "{" in line:
            name, rest = line.split("{", 1)
            inside, _, after = rest.rpartition("}")
            labels = _labels(inside, line)
        else:
            name, _, after = line.partition(" ")
            labels = {}
        value = after.split()[0]  # a timestamp may follow
        metrics.samples.append((name.strip(), labels, float(value)))
    return metrics


def scrape(port, timeout=5.0):
    response = request(port, "GET", "/metrics", timeout=timeout)
    assert response.status == 200, f"GET /metrics on port {port}: {response}"
    return parse(response.raw)
