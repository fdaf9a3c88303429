#!/usr/bin/env python3
"""CDK entry point: the stacks of one environment (``-c env=dev|staging|prod``, default dev).

Run by the CDK CLI (``npx cdk synth -c env=prod``; cdk.json's "app") or directly
(``.venv/bin/python app.py -c env=prod -o cdk.out``; ``CDK_OUTDIR`` works too). Synthesis is offline:
no credentials, no Docker. The dependency layer is built first unless it is up to date
(``-c skip_layer_build=true`` uses the folder as it is).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from stacks import constants as c
from stacks.application import build_app, new_app

LAYER_BUILD_SCRIPT = c.REPO_ROOT / "layers" / "build_dependency_layer.py"
SKIP_LAYER_BUILD = "skip_layer_build"


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "-c", "--context", action="append", default=[], metavar="KEY=VALUE", help="context value"
    )
    parser.add_argument("-o", "--output", help="cloud assembly directory (default: $CDK_OUTDIR or cdk.out)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    context = dict(item.split("=", 1) for item in args.context)
    # Like the CLI: -o, else $CDK_OUTDIR (which the CLI sets), else ./cdk.out (not a temp dir).
    outdir = args.output or os.environ.get("CDK_OUTDIR") or "cdk.out"
    app = new_app(context=context, outdir=outdir)
    if str(app.node.try_get_context(SKIP_LAYER_BUILD)).lower() != "true":
        # A separate process keeps pip out of the app; its report goes to stderr because the CLI
        # owns stdout.
        subprocess.run([sys.executable, str(LAYER_BUILD_SCRIPT)], check=True, stdout=sys.stderr)  # noqa: S603
    build_app(app)
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
