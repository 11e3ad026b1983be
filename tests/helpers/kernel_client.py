"""The command of the notebook tests' kernel spec: asks the kernel fork server
(`tests.helpers.kernel_fork`, socket in ``WSOL_TEST_KERNEL_SERVER``) for a kernel with this
process's arguments, environment, working folder and standard streams, then stands in for it:
signals Jupyter sends here (interrupt, terminate) go to the kernel, and this process exits with
the kernel's status. Imports nothing heavy, so it starts in milliseconds."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys


def main() -> int:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.connect(os.environ["WSOL_TEST_KERNEL_SERVER"])
    request = {"argv": sys.argv[1:], "env": dict(os.environ), "cwd": os.getcwd()}
    line = json.dumps({**request, "client": os.getpid()}).encode() + b"\n"
    socket.send_fds(connection, [line], [0, 1, 2])
    answers = connection.makefile("rb")
    kernel = json.loads(answers.readline())["pid"]
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, lambda number, frame: os.kill(kernel, number))
    ended = answers.readline()
    if not ended:
        return 1  # the server is gone
    returncode = json.loads(ended)["returncode"]
    return returncode if returncode >= 0 else 128 - returncode


if __name__ == "__main__":
    sys.exit(main())
