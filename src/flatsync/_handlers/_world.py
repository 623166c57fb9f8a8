"""TiledWorld: a world of equal chunks (boards), addressed in world coordinates.

The chunks live in a :class:`~flatsync.DataHandler` keyed by chunk coordinates,
so that the protocol sees a plain mapping of boards: a changed chunk ships its
own board delta and nothing else, a new chunk its snapshot, and a view can show
a client some chunks by their keys.
"""

from __future__ import annotations

import operator
from typing import Any

from .._tree._boards import _check_shape, _item_type
from .._tree._events import CellsChanged
from ._base import WRAPPERS
from ._board import ByteHandler
from ._data import DataHandler

__all__ = ["TiledWorld"]

_dget = dict.get


class TiledWorld:
    """World coordinates over a mapping of chunks, each a :class:`~flatsync.ByteHandler`.

    The world is cut into chunks of ``chunk_shape`` items of one item type. The
    chunks sit in :attr:`chunks`, a :class:`~flatsync.DataHandler` whose keys
    are chunk coordinates (tuples of ints, one per axis) and whose values are
    the chunk boards; that mapping is what lives in the state, syncs and
    patches. Cell ``(x, y)`` is item ``(x % w, y % h)`` of chunk
    ``(x // w, y // h)`` for a ``chunk_shape`` of ``(w, h)`` (axes in the
    order of the chunk shape, and as many as it has), so negative coordinates
    work too and the world has no edge.

    A cell of a chunk that does not exist reads as zero. Writing a non-zero
    value there creates the chunk (its snapshot is what the next delta carries);
    :meth:`chunk` creates one ahead of time. Each chunk is a board of its own:
    a tick that changes one chunk ships that chunk's delta only.

    >>> import flatsync
    >>> world = flatsync.TiledWorld((16, 16))
    >>> state = flatsync.DataHandler({"world": world.chunks})
    >>> world[40, -3] = 7
    >>> world[40, -3], world.locate(40, -3)
    (7, ((2, -1), (8, 13)))
    >>> list(state.diff()["world"])
    [(2, -1)]

    A replica reads its copy of the chunks through a TiledWorld of the same
    shape: ``flatsync.TiledWorld((16, 16), chunks=replica["world"])``; its
    writes raise :class:`~flatsync.ReadOnlyError`. Putting a TiledWorld into a
    handler (``state["world"] = world``) puts its chunk mapping there.

    Args:
        chunk_shape: The size of a chunk along each axis (ints > 0).
        item: The chunks' item type (see :class:`~flatsync.ByteHandler`).
        chunks: The chunk mapping to address (for example a replica's); a new
            empty :class:`~flatsync.DataHandler` when omitted.

    Raises:
        ValueError: a bad chunk shape or item type, or ``chunks`` holds a chunk
            of another shape or item type.
        TypeError: ``chunks`` is not a DataHandler, holds something that is not
            a board, or a key that is not a tuple of ints.

    Attributes:
        chunks: The chunk mapping, from chunk coordinates to chunk boards.
    """

    __slots__ = ("_item", "_ndim", "_shape", "chunks")

    chunks: DataHandler

    def __init__(
        self,
        chunk_shape: int | tuple[int, ...],
        item: str = "u8",
        chunks: DataHandler | None = None,
    ) -> None:
        shape = _check_shape(chunk_shape)
        if 0 in shape:
            raise ValueError(f"a chunk's sizes must be > 0, got {shape}")
        kind = _item_type(item)
        self._shape = shape
        self._ndim = len(shape)
        self._item = kind.name
        if chunks is None:
            chunks = DataHandler()
        elif not isinstance(chunks, DataHandler):
            raise TypeError(f"a world's chunks are a DataHandler, not {type(chunks).__name__}")
        for key, board in chunks.items():
            self._check_key(key)
            self._check_chunk(key, board)
        self.chunks = chunks

    @property
    def chunk_shape(self) -> tuple[int, ...]:
        """The size of a chunk along each axis."""
        return self._shape

    @property
    def item(self) -> str:
        """The chunks' item type."""
        return self._item

    @property
    def ndim(self) -> int:
        """The number of axes (of world coordinates, chunk coordinates and chunks)."""
        return self._ndim

    @property
    def readonly(self) -> bool:
        """Whether the chunk mapping is a read-only replica."""
        return self.chunks.readonly

    def _check_key(self, key: Any) -> None:
        if type(key) is not tuple or len(key) != self._ndim or any(type(k) is not int for k in key):
            raise TypeError(
                f"a chunk key is a tuple of {self._ndim} ints (chunk coordinates), not {key!r:.40}"
            )

    def _check_chunk(self, key: Any, board: Any) -> None:
        if not isinstance(board, ByteHandler):
            raise TypeError(f"chunk {key}: a chunk is a ByteHandler, not {type(board).__name__}")
        if board.shape != self._shape or board.item != self._item:
            raise ValueError(
                f"chunk {key}: a board of {board.item} items of shape {board.shape} in a world "
                f"of {self._item} chunks of shape {self._shape}"
            )

    def locate(self, *coords: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The chunk key and the index inside the chunk of the cell at ``coords``.

        Raises:
            TypeError: not one int per axis.
        """
        if len(coords) == 1 and type(coords[0]) is tuple:
            coords = coords[0]
        if len(coords) != self._ndim:
            raise TypeError(
                f"world coordinates are {self._ndim} ints, got {len(coords)}: {coords!r:.60}"
            )
        key = []
        local = []
        for coord, size in zip(coords, self._shape, strict=True):
            try:
                c = operator.index(coord)
            except TypeError:
                raise TypeError(f"world coordinates are ints, not {type(coord).__name__}") from None
            q, r = divmod(c, size)
            key.append(q)
            local.append(r)
        return tuple(key), tuple(local)

    def __getitem__(self, coords: Any) -> Any:
        """The cell at world coordinates ``coords`` (zero where no chunk exists).

        Raises:
            TypeError: not one int per axis.
        """
        key, local = self.locate(coords)
        board = _dget(self.chunks, key)
        if board is None:
            return 0.0 if self._item[0] == "f" else 0
        return board[local]

    def __setitem__(self, coords: Any, value: Any) -> None:
        """Set one cell, creating its chunk if it does not exist and the value is not zero.

        Raises:
            TypeError: not one int per axis, or ``value`` is not a number of the
                item type's kind (nothing changed, no chunk created).
            OverflowError: ``value`` is out of the item type's range (nothing
                changed, no chunk created).
            ReadOnlyError: the chunks are a replica.
        """
        key, local = self.locate(coords)
        board = _dget(self.chunks, key)
        if board is not None:
            board[local] = value
            return
        if self.chunks.readonly:
            self.chunks._refuse_write()
        board = ByteHandler(self._item, self._shape)
        board[local] = value  # checks the value before the chunk exists anywhere
        if board._dirty:  # not zero (bit for bit): the chunk is needed
            self.chunks[key] = board

    def chunk(self, key: tuple[int, ...], create: bool = False) -> ByteHandler | None:
        """The chunk at chunk coordinates ``key``; ``None`` if it does not exist.

        With ``create``, a missing chunk is created (all zeros) and returned.

        Raises:
            TypeError: ``key`` is not a tuple of one int per axis.
            ReadOnlyError: ``create`` on a replica's chunks.
        """
        self._check_key(key)
        board: ByteHandler | None = _dget(self.chunks, key)
        if board is None and create:
            board = ByteHandler(self._item, self._shape)
            self.chunks[key] = board
        return board

    def coords(self, event: CellsChanged) -> list[tuple[int, ...]]:
        """The world coordinates of the cells that a chunk's event lists, in its order.

        A chunk's patch returns a :class:`~flatsync.CellsChanged` at the path of
        the chunk (the chunks' path plus the chunk key) whose indexes are the
        chunk's own; this turns them into the coordinates that ``world[...]``
        takes, which is what a client that redraws the world needs.

        Raises:
            ValueError: ``event`` is not a CellsChanged of a chunk of this world.
        """
        path = event.path
        where = self.chunks.path
        key = path[-1] if len(path) == len(where) + 1 else None
        if (
            type(event) is not CellsChanged
            or path[:-1] != where
            or type(key) is not tuple
            or len(key) != self._ndim
            or any(type(k) is not int for k in key)
            or event.shape != self._shape
        ):
            raise ValueError(f"not the CellsChanged of a chunk of this world: {event!r:.80}")
        origin = [k * size for k, size in zip(key, self._shape, strict=True)]
        if self._ndim == 1:
            return [(origin[0] + local,) for local in event.positions()]
        return [
            tuple(o + local for o, local in zip(origin, cell, strict=True))
            for cell in event.positions()
        ]

    def __repr__(self) -> str:
        return (
            f"TiledWorld({self._shape!r}, {self._item!r}, <{len(self.chunks)} "
            f"chunk{'' if len(self.chunks) == 1 else 's'}>)"
        )


def _chunks_of(world: TiledWorld) -> DataHandler:
    """What a handler stores when a TiledWorld is written into it: the chunk mapping."""
    chunks = world.chunks
    if chunks._parent is None:
        # It arrives whole (its snapshot is sent), as any handler that is put into a
        # tree: changes pending while it sat nowhere are moot. (A mapping that sits
        # elsewhere is refused by the caller, before anything changed.)
        chunks.commit()
    return chunks


WRAPPERS[TiledWorld] = _chunks_of
