"""A real SMTP server for the tests (PyPI aiosmtpd, installed by
scripts/setup.sh): listens on 127.0.0.1 on a free port, prints
"port N" once it does, and writes each message it is given, parsed by
Python's own email package, to OUT_DIR as one JSON file (and its raw
bytes beside it as .eml). With SMTP_SINK_USER and SMTP_SINK_PASSWORD set
it requires AUTH with them (over the plain connection, as a local relay
would) and refuses mail without it. Exits when its stdin closes, so it
never outlives the test that started it.

    python3 smtp_sink.py OUT_DIR
"""

import asyncio
import email
import warnings
import email.policy
import json
import logging
import os
import sys
import threading
import uuid

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Sink:
    def __init__(self, out_dir):
        self.out_dir = out_dir

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "content_type": msg.get_content_type(),
            "text": body.get_content() if body is not None else "",
            "auth_user": session.auth_data.login.decode() if session.authenticated else None,
        }
        name = uuid.uuid4().hex
        with open(os.path.join(self.out_dir, name + ".eml"), "wb") as f:
            f.write(envelope.original_content)
        # Written whole, then renamed: a reader never sees half a message.
        tmp = os.path.join(self.out_dir, "." + name + ".tmp")
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.out_dir, name + ".json"))
        return "250 OK"


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, auth_data=auth_data if ok else None)

    return check


async def main(out_dir):
    # aiosmtpd logs each session's notes at warning; the tests read mail,
    # not its log.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    user = os.environ.get("SMTP_SINK_USER")
    password = os.environ.get("SMTP_SINK_PASSWORD")
    handler = Sink(out_dir)
    kwargs = {"hostname": "smtp-sink.test"}
    if user:
        # Plain AUTH is the point here (a local relay's); no warning for it.
        warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
        kwargs.update(
            authenticator=authenticator(user, password or ""),
            auth_required=True,
            auth_require_tls=False,
        )
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, **kwargs), "127.0.0.1", 0)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    stdin_closed = loop.create_future()

    def watch_stdin():
        sys.stdin.read()
        loop.call_soon_threadsafe(stdin_closed.set_result, None)

    threading.Thread(target=watch_stdin, daemon=True).start()
    await stdin_closed
    server.close()


if __name__ == "__main__":
    os.makedirs(sys.argv[1], exist_ok=True)
    asyncio.run(main(sys.argv[1]))
