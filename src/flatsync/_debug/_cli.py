"""The ``flatsync`` command line: decode and print packets, pack and replay recordings, types.

The only module of the package that does I/O (it reads and writes files and
prints). ``python -m flatsync --help`` and the ``flatsync`` console script
both land in :func:`main`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from .._codecs._cbor import CborCodec
from .._codecs._codec import Codec
from .._codecs._json import JsonCodec
from .._codecs._msgpack import MsgpackCodec
from .._handlers._data import DataHandler
from .._session._events import FrameDropped
from .._session._frames import Header, parse
from .._session._replica import Replica
from .._tree._errors import FlatsyncError
from ._accounting import cost_report
from ._dts import declarations, records_of
from ._recording import read_recording, write_recording
from ._show import dig, overview

__all__ = ["codecs", "main"]


#: The built-in codecs (tests check that this is every concrete codec ``flatsync`` exports).
_BUILT_IN: tuple[type[Codec], ...] = (CborCodec, JsonCodec, MsgpackCodec)


def codecs() -> dict[str, type[Codec]]:
    """The built-in codecs by name."""
    return {codec.name: codec for codec in _BUILT_IN}


def _read(source: str) -> bytes:
    if source == "-":
        return sys.stdin.buffer.read()
    with open(source, "rb") as file:
        return file.read()


def _packet(args: argparse.Namespace) -> bytes:
    if args.hex is not None:
        try:
            return bytes.fromhex(args.hex)
        except ValueError:
            raise SystemExit(f"flatsync: error: not a hex string: {args.hex!r:.60}") from None
    if args.file is None:
        raise SystemExit("flatsync: error: give a packet file (or - for stdin) or --hex")
    return _read(args.file)


def _header(packet: bytes, mode: str) -> Header | None:
    """The packet's frame header, or ``None`` for a bare codec packet."""
    if mode == "bare":
        return None
    try:
        return parse(packet)
    except FlatsyncError:
        if mode == "framed":
            raise
        return None


def _show(tree: Any, codec: Codec, args: argparse.Namespace) -> None:
    print(dig(tree, width=args.width, depth=args.depth, lines=args.lines))
    if args.overview:
        print()
        print(overview(tree, width=args.width))
    if args.costs:
        print()
        print(cost_report(tree, codec, top=args.costs, by=args.by, width=args.width))


def _decode_one(packet: bytes, codec: Codec, mode: str) -> tuple[Header | None, Any]:
    header = _header(packet, mode)
    if header is None:
        return None, codec.decode(packet)
    payload = packet[header.size :]
    if not payload:
        return header, None
    try:
        return header, codec.decode(payload)
    except FlatsyncError:
        if mode == "framed":
            raise
        return None, codec.decode(packet)


def _describe(header: Header | None, size: int) -> str:
    if header is None:
        return f"bare packet, {size:,} bytes"
    base = "" if header.base is None else f", base {header.base}"
    return (
        f"{header.kind.name} frame {header.frame}{base}, {size:,} bytes ({header.size} of header)"
    )


def _cmd_decode(args: argparse.Namespace) -> None:
    codec = codecs()[args.codec]()
    packet = _packet(args)
    header, tree = _decode_one(packet, codec, args.mode)
    print(_describe(header, len(packet)))
    if header is not None and tree is None:
        return
    _show(tree, codec, args)


def _cmd_pack(args: argparse.Namespace) -> None:
    packets = [bytes.fromhex(text) for text in args.hex or ()]
    packets += [_read(path) for path in args.packets]
    data = write_recording(packets, codec=args.codec, framed=args.mode == "framed")
    with open(args.out, "wb") as file:
        file.write(data)
    print(f"{len(packets)} packets, {len(data):,} bytes written to {args.out}")


def _cmd_replay(args: argparse.Namespace) -> None:
    recording = read_recording(_read(args.file))
    known = codecs()
    if recording.codec not in known:
        raise SystemExit(f"flatsync: error: unknown codec {recording.codec!r} in the recording")
    codec = known[recording.codec]()
    replica = Replica(codec)
    state: DataHandler | None = None
    for number, packet in enumerate(recording.packets, 1):
        if recording.framed:
            results = replica.receive(packet)
            state = replica.state
            dropped = [r for r in results if isinstance(r, FrameDropped)]
            note = f": dropped ({dropped[0].reason})" if dropped else ""
        else:
            tree = codec.decode(packet)
            if state is None:
                state = DataHandler.from_snapshot(tree)
            else:
                state.patch(tree)
            note = ""
        if args.packets:
            header, tree = _decode_one(packet, codec, "framed" if recording.framed else "bare")
            print(f"#{number}: {_describe(header, len(packet))}{note}")
            if tree is not None:
                print(dig(tree, width=args.width, depth=args.depth, lines=args.lines))
        elif note:
            print(f"#{number}{note}")
    print(f"{len(recording.packets)} packets replayed ({recording.codec})")
    if state is not None:
        print()
        _show(state, codec, args)


def _cmd_types(args: argparse.Namespace) -> None:
    saved = sys.path[:]
    sys.path[:0] = [*args.path, os.getcwd()]
    try:
        classes = [cls for name in args.modules for cls in records_of(name)]
    finally:
        sys.path[:] = saved
    text = declarations(
        dict.fromkeys(classes), small_ints=args.small_ints, title=", ".join(args.modules)
    )
    if args.out == "-":
        sys.stdout.write(text)
        return
    with open(args.out, "w", encoding="utf-8") as file:
        file.write(text)
    print(f"{len(classes)} record classes declared in {args.out}")


def _parser() -> argparse.ArgumentParser:
    names = sorted(codecs())
    parser = argparse.ArgumentParser(
        prog="flatsync",
        description="Print flatsync packets and recordings, with a type overview and byte costs.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def printing(command: argparse.ArgumentParser) -> None:
        command.add_argument("--width", type=int, default=100, help="longest line (100)")
        command.add_argument("--depth", type=int, default=6, help="levels to open (6)")
        command.add_argument("--lines", type=int, default=40, help="most lines printed (40)")
        command.add_argument("--overview", action="store_true", help="add the type overview")
        command.add_argument(
            "--costs", type=int, default=0, metavar="N", help="add the N costliest paths"
        )
        command.add_argument(
            "--by", choices=("pattern", "path"), default="pattern", help="cost rows (pattern)"
        )

    decode = sub.add_parser("decode", help="decode and print one packet")
    decode.add_argument("file", nargs="?", help="the packet file, or - for stdin")
    decode.add_argument("--hex", help="the packet as a hex string instead of a file")
    decode.add_argument("--codec", choices=names, default="cbor", help="the codec (cbor)")
    decode.add_argument(
        "--mode",
        choices=("auto", "framed", "bare"),
        default="auto",
        help="with a session frame header, without, or guess (auto)",
    )
    printing(decode)
    decode.set_defaults(run=_cmd_decode)

    pack = sub.add_parser("pack", help="write packets into a recording file")
    pack.add_argument("out", help="the recording file to write")
    pack.add_argument("packets", nargs="*", help="packet files, in order")
    pack.add_argument("--hex", action="append", help="a packet as hex (repeatable, first)")
    pack.add_argument("--codec", choices=names, default="cbor", help="the codec (cbor)")
    pack.add_argument(
        "--mode", choices=("framed", "bare"), default="framed", help="session packets or bare"
    )
    pack.set_defaults(run=_cmd_pack)

    replay = sub.add_parser("replay", help="replay a recording into a replica and print it")
    replay.add_argument("file", help="the recording file, or - for stdin")
    replay.add_argument("--packets", action="store_true", help="print every packet too")
    printing(replay)
    replay.set_defaults(run=_cmd_replay)

    types = sub.add_parser(
        "types", help="write TypeScript declarations (.d.ts) for a module's record classes"
    )
    types.add_argument("modules", nargs="+", help="the modules that declare the records")
    types.add_argument("-o", "--out", default="-", help="the .d.ts file to write (- for stdout)")
    types.add_argument(
        "--small-ints",
        action="store_true",
        help="declare int as number, not number | bigint (ints within 2**53 - 1)",
    )
    types.add_argument(
        "--path",
        action="append",
        default=[],
        help="a directory to import the modules from (repeatable; the current one by default)",
    )
    types.set_defaults(run=_cmd_types)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0, or 1 after an error).

    Errors (a malformed packet or recording, a missing file, a codec whose
    optional dependency is not installed) are printed on
    stderr as ``flatsync: error: ...``; a wrong command line exits with
    status 2, as argparse does.
    """
    args = _parser().parse_args(argv)
    try:
        args.run(args)
    except (FlatsyncError, OSError, ValueError, ImportError) as exc:
        print(f"flatsync: error: {exc}", file=sys.stderr)
        return 1
    return 0
