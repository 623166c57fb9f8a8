"""The command line: decode, pack and replay, through main() and python -m flatsync."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

import flatsync
import flatsync.debug
from flatsync._debug._cli import codecs, main


def session_packets() -> list[bytes]:
    """Three ticks of a publisher's packets to one client: a snapshot, a change, a delete."""
    pub = flatsync.Publisher(flatsync.DataHandler({"players": {1: {"hp": 8}, 2: {"hp": 5}}}))
    pub.add_client("ann")
    packets: list[bytes] = []
    pub.tick()
    packets += pub.packets_for("ann")
    pub.root["players"][1]["hp"] = 7
    pub.tick()
    packets += pub.packets_for("ann")
    del pub.root["players"][2]
    pub.tick()
    packets += pub.packets_for("ann")
    return packets


def test_the_built_in_codecs_are_found() -> None:
    """The command line knows every concrete codec the root exports, by its name."""
    exported = {
        obj
        for obj in map(vars(flatsync).__getitem__, flatsync.__all__)
        if isinstance(obj, type) and issubclass(obj, flatsync.Codec) and not inspect.isabstract(obj)
    }
    assert codecs() == {codec.name: codec for codec in exported}
    assert codecs()["cbor"] is flatsync.CborCodec


def test_decode_a_framed_hex_packet(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "--hex", "10 02 01 a1 62 68 70 07", "--costs", "3", "--overview"]) == 0
    assert capsys.readouterr().out == (
        "DELTA frame 2, base 1, 8 bytes (3 of header)\n"
        "hp: 7\n"
        "\n"
        "<root>: dict{hp} × 1\n"
        "hp: int × 1\n"
        "\n"
        "5 bytes (cbor)\n"
        "  total  share     own   items  path\n"
        "      4    80%       4       1  hp\n"
    )


def test_decode_a_bare_packet_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "packet.bin"
    path.write_bytes(bytes.fromhex("a1 03 a1 62 68 70 06"))
    assert main(["decode", str(path)]) == 0
    assert capsys.readouterr().out == "bare packet, 7 bytes\n{3: {'hp': 6}}\n"


def test_decode_an_acknowledgement(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "--hex", "12 01", "--mode", "framed"]) == 0
    assert capsys.readouterr().out == "ACK frame 1, 2 bytes (2 of header)\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["decode", "--hex", "zz"], "not a hex string"),
        (["decode"], "give a packet file"),
    ],
)
def test_usage_errors_exit(argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit, match=message):
        main(argv)


def test_a_bad_packet_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "--hex", "a1 03", "--mode", "bare"]) == 1
    assert capsys.readouterr().err.startswith("flatsync: error: ")


def test_a_missing_file_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "nothing.fsrec")]) == 1
    assert "flatsync: error:" in capsys.readouterr().err


def test_replay_a_recorded_session(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "session.fsrec"
    path.write_bytes(flatsync.debug.write_recording(session_packets(), codec="cbor", framed=True))
    assert main(["replay", str(path), "--packets"]) == 0
    assert capsys.readouterr().out == (
        "#1: SNAPSHOT frame 1, 32 bytes (10 of header)\n"
        "players: {1: {'hp': 8}, 2: {'hp': 5}}\n"
        "#2: DELTA frame 2, base 1, 19 bytes (3 of header)\n"
        "players: {1: {'hp': 7}}\n"
        "#3: DELTA frame 3, base 2, 15 bytes (3 of header)\n"
        "players: {2: flatsync.DELETED}\n"
        "3 packets replayed (cbor)\n"
        "\n"
        "players: {1: {'hp': 7}}\n"
    )


def test_replay_reports_a_dropped_frame(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, _, third = session_packets()
    path = tmp_path / "gap.fsrec"
    path.write_bytes(flatsync.debug.write_recording([first, third], codec="cbor", framed=True))
    assert main(["replay", str(path)]) == 0
    assert capsys.readouterr().out == (
        "#2: dropped (gap)\n2 packets replayed (cbor)\n\nplayers: {1: {'hp': 8}, 2: {'hp': 5}}\n"
    )


def test_pack_then_replay_bare_packets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    codec = flatsync.CborCodec()
    state = flatsync.DataHandler({"hp": 8})
    snapshot = tmp_path / "0.bin"
    snapshot.write_bytes(codec.encode(state.snapshot()))
    state["hp"] = 3
    out = tmp_path / "bare.fsrec"
    argv = [
        "pack",
        str(out),
        str(snapshot),
        "--mode",
        "bare",
        "--hex",
        codec.encode(state.diff()).hex(),
    ]
    assert main(argv) == 0
    assert capsys.readouterr().out == f"2 packets, 25 bytes written to {out}\n"
    recording = flatsync.debug.read_recording(out.read_bytes())
    assert recording.packets == (bytes.fromhex("a1 62 68 70 03"), bytes.fromhex("a1 62 68 70 08"))
    assert main(["replay", str(out), "--costs", "1"]) == 0
    # The --hex packet comes first: the replica starts at hp 3, then patches it to 8.
    assert capsys.readouterr().out == (
        "2 packets replayed (cbor)\n"
        "\n"
        "hp: 8\n"
        "\n"
        "5 bytes (cbor)\n"
        "  total  share     own   items  path\n"
        "      4    80%       4       1  hp\n"
    )


def test_replay_refuses_an_unknown_codec(tmp_path: Path) -> None:
    path = tmp_path / "odd.fsrec"
    path.write_bytes(flatsync.debug.write_recording([], codec="smoke-signals", framed=True))
    with pytest.raises(SystemExit, match="unknown codec 'smoke-signals'"):
        main(["replay", str(path)])


def test_python_dash_m_runs_the_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flatsync", "decode", "--hex", "a1 62 68 70 07"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(flatsync.__file__).parent.parent)},
    )
    assert result.stdout == "bare packet, 5 bytes\nhp: 7\n"
