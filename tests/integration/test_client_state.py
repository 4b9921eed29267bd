"""A client's connection state through the proxy, against Redis with requirepass: what RESET
clears (the proxy's own client authentication, and on Redis the link's AUTH, which the proxy
restores), HELLO's options read positionally, and Redis 7's limits on a client that has not
authenticated yet (10 arguments, 16 KiB per bulk). Replies are compared with what Redis itself
answers on a direct connection.

Two topologies for the module (no failover here), one with requirepass and one without;
proxies with --client-password, --redis-password or both."""

from __future__ import annotations

import os

import pytest

import conftest
import harness
from harness import RawResp, RespError, now, wait_until

REDIS_PW = "state-redis-pw"
CLIENT_PW = "state-client-pw"

uniq = harness.key_maker("state")


@pytest.fixture(scope="module")
def topo(tmp_path_factory):
    t = conftest._start_topology(tmp_path_factory.mktemp("topo"), replicas=1,
                                 redis_password=REDIS_PW)
    yield t
    conftest._stop_topology(t)


def _serve(tmp_path_factory, topo, name, args, **kw):
    p = conftest._start_proxy(tmp_path_factory.mktemp(name), topo, args, **kw)
    yield p
    conftest._stop_proxy(p)


@pytest.fixture(scope="module")
def gated(topo, tmp_path_factory):
    """A proxy that checks a client password itself and AUTHs to Redis with its own."""
    yield from _serve(tmp_path_factory, topo, "gated",
                      ["--client-password", CLIENT_PW, "--redis-password", REDIS_PW],
                      client_password=CLIENT_PW)


@pytest.fixture(scope="module")
def open_proxy(topo, tmp_path_factory):
    """A proxy with no client password that AUTHs to Redis for its clients."""
    yield from _serve(tmp_path_factory, topo, "open", ["--redis-password", REDIS_PW])


def is_error(r, prefix: str) -> bool:
    return isinstance(r, RespError) and r.startswith(prefix)


# ---------------------------------------------------------------------------------------------
# Defect 2 of issue 10: RESET must drop the proxy-side client authentication.

@pytest.fixture(scope="module")
def gated_no_redis_pw(module_topology, tmp_path_factory):
    """A proxy that checks a client password, in front of Redis without requirepass: a GET
    after RESET that got through would be answered with the value."""
    p = conftest._start_proxy(tmp_path_factory.mktemp("gated-nopw"), module_topology,
                              ["--client-password", CLIENT_PW], client_password=CLIENT_PW)
    yield p
    conftest._stop_proxy(p)


@pytest.mark.parametrize("which", ["redis without password", "redis with requirepass"])
def test_reset_drops_the_client_password_authentication(which, gated_no_redis_pw, gated):
    proxy = gated_no_redis_pw if which == "redis without password" else gated
    k = uniq("reset-auth")
    s = RawResp(proxy.port)
    try:
        # RESET is allowed before AUTH, as in Redis 7
        assert s.call("RESET") == "RESET"
        assert is_error(s.call("GET", k), "NOAUTH")
        assert s.call("AUTH", CLIENT_PW) == "OK"
        assert s.call("SET", k, "v") == "OK"
        assert s.call("RESET") == "RESET"
        r = s.call("GET", k)
        assert is_error(r, "NOAUTH"), f"GET after RESET was answered: {r!r}"
        # the same in one pipeline: Redis answers +OK +RESET -NOAUTH
        s.send(s.command("AUTH", CLIENT_PW) + s.command("RESET") + s.command("GET", k))
        assert s.read_reply() == "OK"
        assert s.read_reply() == "RESET"
        r = s.read_reply()
        assert is_error(r, "NOAUTH"), f"GET after RESET was answered: {r!r}"
        # authenticating again works, through a backend link that is still authenticated
        assert s.call("AUTH", CLIENT_PW) == "OK"
        assert s.call("GET", k) == "v"
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------
# Defect 3 of issue 10: RESET drops the link's AUTH on Redis; the proxy must AUTH again, and
# the rest of the state must be what RESET leaves on Redis itself.

def reset_script(s: RawResp, k: str, h: str) -> list:
    """Sets up every piece of connection state RESET clears, RESETs, and reads it back."""
    out = []
    out.append(s.call("SET", k, "db0"))
    out.append(s.call("SELECT", "5"))
    out.append(s.call("SET", k, "db5"))
    out.append(s.call("CLIENT", "SETNAME", "before-reset"))
    out.append(s.call("HSET", h, "f", "v"))
    s.send(s.command("HELLO", "3"))
    out.append(("hello type", s.first_byte()))
    s.read_reply()
    out.append(s.call("WATCH", k))
    out.append(s.call("MULTI"))
    out.append(s.call("SET", k, "in-multi"))
    out.append(s.call("RESET"))
    out.append(s.call("GET", k))  # db 0, not queued, authenticated
    out.append(s.call("CLIENT", "GETNAME"))
    s.send(s.command("HGETALL", h))
    out.append(("hgetall type", s.first_byte()))  # RESP2 again: an array
    out.append(s.read_reply())
    out.append(s.call("EXEC"))
    out.append(s.call("SUBSCRIBE", "state-chan"))
    out.append(s.call("RESET"))
    out.append(s.call("PING"))  # not in subscribed mode any more
    out.append(s.call("GET", k))
    out.append(s.call("RESET"))
    out.append(s.call("RESET"))
    out.append(s.call("SET", k, "after"))
    return out


def test_reset_keeps_the_backend_link_authenticated(open_proxy, topo):
    k, h = uniq("reset-link"), uniq("reset-h")
    s = RawResp(open_proxy.port)
    try:
        assert s.call("SET", k, "v") == "OK"
        assert s.call("RESET") == "RESET"
        r = s.call("GET", k)
        assert r == "v", f"GET after RESET: {r!r}"
        through_proxy = reset_script(s, k, h)
    finally:
        s.close()
    # the same script on a direct connection that authenticated first (the proxy does that
    # for its clients), which RESET leaves unauthenticated: AUTH again after each RESET
    master = topo.current_master()
    d = RawResp(master.port)
    try:
        assert d.call("AUTH", REDIS_PW) == "OK"
        real_call = d.call

        def call(*args):
            r = real_call(*args)
            if args == ("RESET",):
                assert real_call("AUTH", REDIS_PW) == "OK"
            return r
        d.call = call
        direct = reset_script(d, k + ":direct", h + ":direct")
    finally:
        d.close()
    assert through_proxy == direct
    assert master.client(db=0).get(k) == "after"
    assert master.client(db=5).get(k) == "db5"


# ---------------------------------------------------------------------------------------------
# Defect 4 of issue 10: before AUTH, Redis 7 refuses more than 10 arguments or a bulk over
# 16 KiB and closes the connection; the proxy must too, before buffering anything.

def refused(port: int, data: bytes, error: str) -> float:
    s = RawResp(port, timeout=5)
    try:
        t0 = now()
        s.send(data)
        r = s.read_reply()
        elapsed = now() - t0
        assert r == RespError("ERR Protocol error: " + error), r
        assert s.wait_closed(5), f"left open after {r!r}"
        return elapsed
    finally:
        s.close()


def test_unauthenticated_client_limits_like_redis(gated, topo):
    master = topo.current_master()
    for port in (gated.port, master.port):  # the proxy, and Redis itself
        assert refused(port, b"*11\r\n", "unauthenticated multibulk length") < 2.0
        assert refused(port, b"*1000000\r\n", "unauthenticated multibulk length") < 2.0
        assert refused(port, b"*2\r\n$3\r\nSET\r\n$104857600\r\n",
                       "unauthenticated bulk length") < 2.0
        assert refused(port, b"*1\r\n$16385\r\n", "unauthenticated bulk length") < 2.0

    # within the limits: framed and answered NOAUTH, like Redis
    s = RawResp(gated.port)
    try:
        args = ["ECHO"] + ["x" * 16384] * 9
        assert is_error(s.call(*args), "NOAUTH")
        # after AUTH, in the same pipeline, the limits are gone
        big = os.urandom(50_000).hex()
        s.send(s.command("AUTH", CLIENT_PW) + s.command("ECHO", big))
        assert s.read_reply() == "OK"
        assert s.read_reply() == big
        assert s.call("DEL", *[uniq("many") for _ in range(20)]) == 0
        # RESET makes the client unauthenticated again: the limits are back
        assert s.call("RESET") == "RESET"
        s.send(b"*11\r\n")
        r = s.read_reply()
        assert r == RespError("ERR Protocol error: unauthenticated multibulk length"), r
        assert s.wait_closed(5)
    finally:
        s.close()


def test_unauthenticated_huge_bulks_do_not_grow_the_proxy(gated):
    pid = gated.process.pid

    def rss_kib() -> int:
        return harness.rss_kib(pid)

    before = rss_kib()
    socks = [RawResp(gated.port, timeout=5) for _ in range(3)]
    try:
        chunk = b"x" * (1 << 20)
        for s in socks:
            s.send(b"*2\r\n$3\r\nSET\r\n$104857600\r\n")
        for s in socks:
            for _ in range(20):  # 20 MiB of body each, if the proxy still reads
                try:
                    s.send(chunk)
                except OSError:
                    break
        for s in socks:
            r = s.read_reply()
            assert r == RespError("ERR Protocol error: unauthenticated bulk length"), r
    finally:
        for s in socks:
            s.close()
    wait_until(lambda: rss_kib() < before + 16 * 1024, 5, 0.1,
               f"the proxy's RSS to stay near {before} KiB (now {rss_kib()} KiB)")


# ---------------------------------------------------------------------------------------------
# Defect 6 of issue 10: HELLO's options are read positionally (a SETNAME value "auth" is not
# the AUTH keyword).

def test_hello_options_are_read_positionally(gated, topo):
    s = RawResp(gated.port)
    try:
        s.send(s.command("HELLO", "3", "SETNAME", "auth", "AUTH", "default", CLIENT_PW))
        assert s.first_byte() == b"%", f"not a RESP3 map: {s.buf[:100]!r}"
        hello = s.read_reply()
        assert hello.get("proto") == 3, hello
        assert s.call("CLIENT", "GETNAME") == "auth"
    finally:
        s.close()

    s = RawResp(gated.port)
    try:
        s.send(s.command("HELLO", "2", "AUTH", "default", CLIENT_PW, "SETNAME", "AUTH"))
        assert s.first_byte() == b"*", s.buf[:100]
        assert s.read_reply()[:2] == ["server", "redis"]
        assert s.call("CLIENT", "GETNAME") == "AUTH"
    finally:
        s.close()

    # errors exactly as Redis gives them, checked before the password
    master = topo.current_master()
    cases = [
        ("HELLO", "3", "SETNAME"),
        ("HELLO", "3", "AUTH", "default"),
        ("HELLO", "3", "FOO", "bar", "AUTH", "default", "{pw}"),
        ("HELLO", "x", "AUTH", "default", "{pw}"),
        ("HELLO", "4", "AUTH", "default", "{pw}"),
        ("HELLO", "3", "AUTH", "default", "wrong", "SETNAME", "n"),
    ]
    for case in cases:
        got = []
        for port, pw in ((gated.port, CLIENT_PW), (master.port, REDIS_PW)):
            c = RawResp(port)
            try:
                got.append(c.call(*[a.replace("{pw}", pw) for a in case]))
                # and the connection is still unauthenticated
                assert is_error(c.call("GET", "x"), "NOAUTH"), case
            finally:
                c.close()
        assert isinstance(got[0], RespError) and got[0] == got[1], (case, got)
