#!/usr/bin/env python3
"""A department's own client for xinfang, in Python with nats-py (`pip install nats-py`).

It logs in with the department's credential file from `xinfang nats-config` (user, password,
inbox prefix, stream and consumer), pulls the department's durable feed `dept_<dept>` on
`XF_<county>` -- assignments, withdrawals, warnings, overdue notices, 督办 -- and prints each
message as one JSON line, acknowledging it only after the line is written. Whatever was
published for the department while it was offline comes when it is back, in order; a message
it does not acknowledge comes again.

    python3 docs/examples/dept_listen.py --server nats://xinfang.example:4222 \\
        --credentials 411282_rsj.json

Start from here: replace `handle` with what the department does with a message (file it in
its own system, tell a person). Raise from `handle` and the message is negatively
acknowledged and comes again later. Actions (accept, object, extend, reply) are requests on
`<commands>.<action>` from the same credential file; `xinfang dept act` is one such client.

Exit codes: 0 done (Ctrl-C, --max-messages, --idle-exit), 1 failure, 2 bad arguments.
"""

import argparse
import asyncio
import json
import signal
import sys

import nats
from nats.errors import TimeoutError as NatsTimeoutError


def handle(msg) -> None:
    """Hands one message on: here, one JSON line on stdout."""
    meta = msg.metadata
    line = {
        "subject": msg.subject,
        "stream_sequence": meta.sequence.stream,
        "delivered": meta.num_delivered,
    }
    try:
        line["event"] = json.loads(msg.data)
    except ValueError:
        line["payload"] = msg.data.decode("utf-8", "replace")
    sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def retry_delay(delivered: int) -> float:
    """Seconds before a message that could not be handed on comes again: 5 s, doubling, <= 15 min."""
    return float(min(5 * 2 ** (max(delivered, 1) - 1), 900))


async def listen(args, creds) -> int:
    nc = await nats.connect(
        args.server,
        user=creds["user"],
        password=creds["password"],
        # The server lets a department receive replies -- pulled messages included -- only
        # under its own inbox prefix.
        inbox_prefix=creds["inbox_prefix"],
        name="dept_listen.py",
        max_reconnect_attempts=-1,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # Bind to the existing consumer: a department may not look up or create consumers.
    sub = await nc.jetstream().pull_subscribe_bind(
        durable=creds["consumer"], stream=creds["stream"]
    )
    print(
        f"listening to {creds['feed']} (consumer {creds['consumer']} on {creds['stream']})",
        file=sys.stderr,
    )
    handed_on = 0
    idle = 0.0
    while not stop.is_set():
        if args.max_messages is not None and handed_on >= args.max_messages:
            break
        if args.idle_exit and idle >= args.idle_exit:
            break
        try:
            msgs = await sub.fetch(batch=1, timeout=1)
        except NatsTimeoutError:
            idle += 1
            continue
        idle = 0.0
        for msg in msgs:
            try:
                handle(msg)
            except BrokenPipeError:
                await msg.nak()
                return 1
            except Exception as e:  # noqa: BLE001 -- anything: try the message again later
                delay = retry_delay(msg.metadata.num_delivered)
                print(f"not handed on ({type(e).__name__}); again in {delay:.0f}s", file=sys.stderr)
                await msg.nak(delay=delay)
                continue
            # Acknowledged only now, and confirmed by the server (else it comes again).
            await msg.ack_sync(timeout=5)
            handed_on += 1
    # Everything handed on is acknowledged already (ack_sync): close without draining.
    await nc.close()
    print(f"handed on {handed_on} message(s)", file=sys.stderr)
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--server", default="nats://127.0.0.1:4222", help="NATS server URL")
    p.add_argument("--credentials", required=True, help="the department's credential file")
    p.add_argument("--county", help="checked against the credential file")
    p.add_argument("--dept", help="checked against the credential file")
    p.add_argument("--max-messages", type=int, help="stop after handing on this many")
    p.add_argument("--idle-exit", type=float, default=0, help="stop after this many idle seconds")
    args = p.parse_args()
    try:
        with open(args.credentials, encoding="utf-8") as f:
            creds = json.load(f)
    except (OSError, ValueError) as e:
        print(f"error: {args.credentials}: {e}", file=sys.stderr)
        return 2
    if "consumer" not in creds:
        print(f"error: {args.credentials} is not a department's credential file", file=sys.stderr)
        return 2
    for key in ("county", "dept"):
        given = getattr(args, key)
        if given and given != creds.get(key):
            print(f"error: --{key} {given}: the file is {creds['user']}'s", file=sys.stderr)
            return 2
    return asyncio.run(listen(args, creds))


if __name__ == "__main__":
    sys.exit(main())
