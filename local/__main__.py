"""`make dev`: run the local cloud in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from local.clock import VirtualClock
from local.cloud import LocalCloud, Ports


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--rest-port", type=int, default=8000)
    parser.add_argument("--websocket-port", type=int, default=8001)
    parser.add_argument("--stripe-port", type=int, default=8002)
    parser.add_argument("--tesla-port", type=int, default=8003)
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="virtual seconds per real second (60 = a booking hour per real minute)")
    args = parser.parse_args()
    # moto's HTTP access log drowns the handlers' structured logs; its errors still show.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    clock = VirtualClock.real() if args.time_scale == 1.0 else VirtualClock.scaled(args.time_scale)
    ports = Ports(args.rest_port, args.websocket_port, args.stripe_port, args.tesla_port)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with LocalCloud(clock=clock, ports=ports, host=args.host) as cloud:
        print("Driveway-Hub local cloud is up:", flush=True)
        for name, url in cloud.urls.items():
            print(f"  {name:<10} {url}", flush=True)
        print(f"  docs       {cloud.urls['rest']}/docs  (Swagger UI)", flush=True)
        print(f"  clock      x{args.time_scale:g} (virtual now {clock.now().isoformat()})", flush=True)
        print("Ctrl-C to stop.", flush=True)
        stop.wait()
        print("stopping…", flush=True)
    print("stopped.", flush=True)


if __name__ == "__main__":
    main()
