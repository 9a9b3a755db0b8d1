"""A real SMTP submission server for the notify tests: STARTTLS required before anything
else (or, with MODE "tls", TLS from the first byte), then AUTH (PLAIN or LOGIN) with one user,
messages stored in a Maildir.

    python3 smtp_tls_auth.py HOST PORT MAILDIR CERT KEY USER PASSWORD [MODE]

Prints "ready" once listening; runs until killed.
"""

import signal
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword

host, port, maildir, cert, key, user, password = sys.argv[1:8]
mode = sys.argv[8] if len(sys.argv) > 8 else "starttls"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == user.encode()
        and auth_data.password == password.encode()
    )
    # handled=False: the server answers a failure with 535 itself.
    return AuthResult(success=ok, handled=False)


tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
tls.load_cert_chain(cert, key)
common = dict(authenticator=authenticator, auth_required=True)
if mode == "tls":
    controller = Controller(
        Mailbox(maildir), hostname=host, port=int(port), ssl_context=tls,
        auth_require_tls=False, **common,
    )
else:
    controller = Controller(
        Mailbox(maildir), hostname=host, port=int(port), tls_context=tls,
        require_starttls=True, auth_require_tls=True, **common,
    )
controller.start()
print("ready", flush=True)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
controller.stop()
