"""The `derive` command: equations, generated code and gradient checks of built-in models."""

import argparse
import sys

from . import models
from .codegen import to_numpy
from .derivation import derive
from .errors import DeriveError
from .gradcheck import gradcheck


def _load(name):
    try:
        return models.BUILTIN[name]()
    except KeyError:
        known = ", ".join(models.BUILTIN)
        raise DeriveError(f"unknown model {name!r}; built-in models: {known}") from None


def _dims(pairs):
    dims = dict(models.EXAMPLE_DIMS)
    for pair in pairs:
        name, _, size = pair.partition("=")
        if not name or not size.isdigit() or int(size) < 1:
            raise DeriveError(f"--dim takes NAME=SIZE with a positive size, got {pair!r}")
        dims[name] = int(size)
    return dims


def equations(args):
    print(derive(_load(args.model)))


def codegen(args):
    sys.stdout.write(to_numpy(derive(_load(args.model))))


def check(args):
    report = gradcheck(derive(_load(args.model)), _dims(args.dim), seed=args.seed)
    print(report)
    return 0 if report.ok else 1


def list_models(args):
    for name, build in models.BUILTIN.items():
        print(f"{name:20} {build.__doc__.splitlines()[0]}")


def parser():
    p = argparse.ArgumentParser(prog="derive", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    for name, run, help in [("equations", equations, "forward and δ equations"),
                            ("codegen", codegen, "the generated numpy module"),
                            ("check", check, "gradient check against central differences")]:
        s = sub.add_parser(name, help=help, description=help)
        s.add_argument("model", help="name of a built-in model (see `derive models`)")
        s.set_defaults(run=run)
        if name == "check":
            s.add_argument("--dim", action="append", default=[], metavar="NAME=SIZE",
                           help="size of a dimension (default D=3 H=4 K=2 N=5)")
            s.add_argument("--seed", type=int, default=0)
    sub.add_parser("models", help="list the built-in models").set_defaults(run=list_models)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except DeriveError as exc:
        print(f"derive: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
