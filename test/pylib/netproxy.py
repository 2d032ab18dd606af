"""The fault-injecting TCP proxy of the chaos suite: one process, every link.

The harness (proxied.py, ProxiedCluster) starts this file as a child process and drives it
with one JSON object per line on stdin; it answers one JSON object per line on
stdout. It runs in a process of its own so that the harness's client threads
never hold the proxy up (a Python process has one interpreter lock), and it
doubles as a watchdog: when its stdin closes (the harness ended, however it
ended) it kills every synod process the harness registered, so no node
outlives a run.

A LINK is one listening socket on 127.0.0.1 that forwards every connection it
accepts to one target port on 127.0.0.1. The harness makes two per ordered
pair of nodes (i, j):
  - peer i->j: node i's --peers entry for j; carries the messages i sends j
    (synod dials one outbound connection per peer, so the bytes flowing back
    on it are j's handshake only);
  - http i->j: node i's --clients entry for j; carries the requests i forwards
    to j, and j's answers back.
Each direction of a proxied connection obeys the state of one DIRECTED PAIR
(a, b): "messages from a to b". Peer i->j obeys (i, j) both ways; http i->j
obeys (i, j) for the request and (j, i) for the answer.

A pair's state:
  mode      pass | cut | blackhole
            cut: connections are closed, and new ones closed at once
            (a refused or reset TCP connection); blackhole: bytes are read
            and thrown away, connections stay open and new ones are accepted
            (packets that vanish; synod notices by its own timeouts). Going
            back to pass from blackhole closes the connections, whose streams
            lost bytes in the middle of frames.
  delay_ms, jitter_ms   every chunk is held delay + U(0, jitter) ms, in order
  reset_prob            each chunk closes its connection with this probability
                        (a flaky link: one-way loss that TCP turns into resets)

Commands: {"op":"link","name":N,"target":PORT,"fwd":[a,b],"back":[c,d]} ->
{"port":P}; {"op":"pair","pair":[a,b],"mode":..,"delay_ms":..,"jitter_ms":..,
"reset_prob":..}; {"op":"heal"} (every pair passes); {"op":"watch","pid":P,
"tag":T} (killed at exit if its /proc cmdline still contains T);
{"op":"unwatch","pid":P}; {"op":"stats"}; {"op":"quit"}.
Only 127.0.0.1: the proxy binds and dials nothing else.
"""
import asyncio
import json
import os
import random
import signal
import sys

HOST = "127.0.0.1"
CHUNK_BYTES = 65536


class PairState:
    __slots__ = ("mode", "delay_ms", "jitter_ms", "reset_prob")

    def __init__(self):
        self.mode = "pass"
        self.delay_ms = 0
        self.jitter_ms = 0
        self.reset_prob = 0.0


class Connection:
    def __init__(self, link, reader, writer):
        self.link = link
        self.client_reader = reader
        self.client_writer = writer
        self.server_writer = None
        self.closed = False
        self.tasks = []

    def close(self):
        if self.closed:
            return
        self.closed = True
        for writer in (self.client_writer, self.server_writer):
            if writer is not None:
                try:
                    writer.transport.abort()
                except Exception:  # noqa: BLE001 - already gone
                    pass
        for task in self.tasks:
            task.cancel()
        self.link.connections.discard(self)


class Link:
    def __init__(self, proxy, name, target, fwd, back):
        self.proxy = proxy
        self.name = name
        self.target = target
        self.fwd = tuple(fwd)
        self.back = tuple(back)
        self.connections = set()
        self.server = None
        self.bytes = 0
        self.accepted = 0

    async def start(self):
        self.server = await asyncio.start_server(self.accept, HOST, 0, reuse_address=True)
        return self.server.sockets[0].getsockname()[1]

    async def accept(self, reader, writer):
        self.accepted += 1
        connection = Connection(self, reader, writer)
        if self.proxy.state(self.fwd).mode == "cut" or self.proxy.state(self.back).mode == "cut":
            connection.close()
            return
        self.connections.add(connection)
        try:
            server_reader, server_writer = await asyncio.open_connection(HOST, self.target)
        except OSError:
            connection.close()
            return
        if connection.closed:
            server_writer.transport.abort()
            return
        connection.server_writer = server_writer
        connection.tasks = [
            asyncio.ensure_future(self.pump(connection, reader, server_writer, self.fwd)),
            asyncio.ensure_future(self.pump(connection, server_reader, writer, self.back)),
        ]

    async def pump(self, connection, reader, writer, pair):
        """Copies one direction, applying the pair's faults chunk by chunk."""
        queue = asyncio.Queue()
        sender = asyncio.ensure_future(self.send(connection, queue, writer))
        connection.tasks.append(sender)
        loop = asyncio.get_running_loop()
        due_last = 0.0
        try:
            while not connection.closed:
                data = await reader.read(CHUNK_BYTES)
                if not data:
                    break
                state = self.proxy.state(pair)
                if state.mode == "cut":
                    break
                if state.mode == "blackhole":
                    continue
                if state.reset_prob > 0 and self.proxy.random.random() < state.reset_prob:
                    break
                due = loop.time()
                if state.delay_ms or state.jitter_ms:
                    due += (state.delay_ms + self.proxy.random.uniform(0, state.jitter_ms)) / 1000.0
                due_last = max(due_last, due)
                queue.put_nowait((due_last, data))
        except (OSError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            return
        queue.put_nowait(None)
        try:
            await sender
        except asyncio.CancelledError:
            return
        connection.close()

    async def send(self, connection, queue, writer):
        loop = asyncio.get_running_loop()
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                due, data = item
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if connection.closed:
                    return
                writer.write(data)
                self.bytes += len(data)
                await writer.drain()
        except (OSError, ConnectionError):
            connection.close()

    def close_all(self):
        for connection in list(self.connections):
            connection.close()


class Proxy:
    def __init__(self):
        self.links = {}
        self.pairs = {}
        self.watched = {}
        self.random = random.Random(int(os.environ.get("SYNOD_CHAOS_PROXY_SEED", "1")))

    def state(self, pair):
        state = self.pairs.get(pair)
        if state is None:
            state = self.pairs[pair] = PairState()
        return state

    def links_of(self, pair):
        return [link for link in self.links.values() if link.fwd == pair or link.back == pair]

    def set_pair(self, pair, mode, delay_ms, jitter_ms, reset_prob):
        state = self.state(pair)
        old_mode = state.mode
        state.mode, state.delay_ms, state.jitter_ms, state.reset_prob = mode, delay_ms, jitter_ms, reset_prob
        if mode == "cut" or (old_mode == "blackhole" and mode != "blackhole"):
            for link in self.links_of(pair):
                link.close_all()

    async def command(self, message):
        op = message.get("op")
        if op == "link":
            link = Link(self, message["name"], int(message["target"]), message["fwd"], message["back"])
            port = await link.start()
            self.links[link.name] = link
            return {"port": port}
        if op == "pair":
            self.set_pair(tuple(message["pair"]), message.get("mode", "pass"), float(message.get("delay_ms", 0)),
                          float(message.get("jitter_ms", 0)), float(message.get("reset_prob", 0)))
            return {}
        if op == "heal":
            for pair in list(self.pairs):
                self.set_pair(pair, "pass", 0, 0, 0)
            return {}
        if op == "watch":
            self.watched[int(message["pid"])] = str(message["tag"])
            return {}
        if op == "unwatch":
            self.watched.pop(int(message["pid"]), None)
            return {}
        if op == "stats":
            return {"links": {name: {"bytes": link.bytes, "accepted": link.accepted, "open": len(link.connections)}
                              for name, link in self.links.items()}}
        if op == "quit":
            return None
        return {"error": f"unknown op {op!r}"}

    def kill_watched(self):
        for pid, tag in self.watched.items():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read().decode("utf-8", "replace")
            except OSError:
                continue
            if tag in cmdline:
                for sig in (signal.SIGCONT, signal.SIGKILL):
                    try:
                        os.kill(pid, sig)
                    except OSError:
                        pass


async def main():
    proxy = Proxy()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            try:
                message = json.loads(line)
                answer = await proxy.command(message)
            except Exception as error:  # noqa: BLE001 - report, keep serving
                answer = {"error": repr(error)}
            if answer is None:
                out.write("{}\n")
                out.flush()
                break
            out.write(json.dumps(answer) + "\n")
            out.flush()
    finally:
        proxy.kill_watched()
        for link in proxy.links.values():
            link.close_all()
            if link.server is not None:
                link.server.close()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the harness decides when we stop
    asyncio.run(main())
